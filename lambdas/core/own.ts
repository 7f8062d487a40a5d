/**
 * Lookups by names that users choose (features, metrics, outputs, labels). A plain object inherits from
 * `Object.prototype`, so `metrics['constructor']` is a function, not "absent": every such lookup reads own
 * properties only.
 */

/** `record[key]` when `key` is an own property of `record`, else undefined. */
export function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * The one name a plain object cannot hold as data: assigning `o['__proto__'] = v` changes the prototype instead, so
 * the key silently disappears when a parsed object is copied. Manifests refuse it as a name.
 */
export const PROTOTYPE_KEY = '__proto__';
