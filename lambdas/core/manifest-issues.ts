/**
 * Turns zod issues into messages a person can act on: every message names the bad value (cut when long), what is
 * allowed, and, for a misspelt key or option, the closest allowed one ("did you mean"). Used for manifests
 * (./manifest.ts) and the platform config (lib/config.ts), which are written by hand and read by their authors, so
 * nothing is redacted; request data never goes through here.
 *
 * Everything is read from the issues themselves (the enum values, the discriminator's options, the object's own
 * keys), so a schema that grows a new option or field is explained without a change here.
 */
import type { z } from 'zod';

/** One problem: the dotted field path and what to do about it. Structurally a `ManifestIssue`. */
export interface ExplainedIssue {
  readonly path: string;
  readonly message: string;
  /** The bad value as shown in the message (JSON, cut to `MAX_VALUE_CHARS`); absent when the field is missing. */
  readonly value?: string;
  /** The allowed keys or options, when the schema lists them. */
  readonly allowed?: readonly string[];
  /** The closest allowed key or option to a misspelt one. */
  readonly suggestion?: string;
  /** The field is absent from the input. */
  readonly missing?: true;
}

export type ExplainedParse<T> =
  | { readonly success: true; readonly data: T }
  | { readonly success: false; readonly issues: readonly ExplainedIssue[] };

/** Longest value quoted in a message; a manifest can hold large arrays, and the message only needs to point at it. */
export const MAX_VALUE_CHARS = 60;
/** Allowed keys listed when no close match exists (more would bury the message). */
const MAX_LISTED = 12;

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

/**
 * `schema.safeParse(input)` with every issue explained. Never throws. `root` names the whole document in paths and
 * messages (`(manifest)`, `(config)`).
 */
export function safeParseExplained<S extends z.ZodType>(
  schema: S,
  input: unknown,
  root = '(manifest)',
): ExplainedParse<z.output<S>> {
  // An object's own keys are on the schema that reported its unrecognized keys (the raw issue's `inst`), which the
  // finished issue no longer carries; the error map sees the raw issue, so it records them by path.
  const keysAt = new Map<string, readonly string[]>();
  const parsed = schema.safeParse(input, {
    reportInput: true,
    error: (raw: RawIssue) => {
      if (raw.code === 'unrecognized_keys') {
        const shape = (raw.inst as { _zod?: { def?: { shape?: object } } } | undefined)?._zod?.def?.shape;
        if (shape) keysAt.set(pathKey(raw.path ?? []), Object.keys(shape));
      }
      // A marker, not a message: it tells `explain` that the schema gave no message of its own for this issue.
      return GENERATED;
    },
  });
  if (parsed.success) return { success: true, data: parsed.data as z.output<S> };
  return {
    success: false,
    issues: parsed.error.issues.flatMap((i) => explain(i, { input, root, base: [], keysAt })),
  };
}

const GENERATED = '\u0000generated';

interface Context {
  readonly input: unknown;
  readonly root: string;
  /** Path of the union whose branch issues are being explained (their paths are relative to it). */
  readonly base: readonly PropertyKey[];
  readonly keysAt: ReadonlyMap<string, readonly string[]>;
}

function explain(issue: Issue, ctx: Context): ExplainedIssue[] {
  const fullPath = [...ctx.base, ...issue.path];
  const path = formatIssuePath(fullPath, ctx.root);
  const present = hasValueAt(ctx.input, fullPath);
  const value = present ? valueAt(ctx.input, fullPath) : undefined;
  const shown = present ? describeValue(value) : undefined;
  const custom = issue.message === GENERATED ? undefined : issue.message;
  const withValue = (
    message: string,
    extra: Omit<ExplainedIssue, 'path' | 'message' | 'value'> = {},
  ): ExplainedIssue => ({
    path,
    message,
    ...(shown !== undefined ? { value: shown } : { missing: true as const }),
    ...extra,
  });
  // The schema's own message says what is allowed; it still needs the value it was given.
  const customWith = (hint = '', extra: Omit<ExplainedIssue, 'path' | 'message' | 'value'> = {}) =>
    withValue(`${custom} (got ${shown ?? 'nothing'}${hint})`, extra);

  switch (issue.code) {
    case 'unrecognized_keys': {
      // Inside a union branch zod finishes the issue at the branch's own (relative) path.
      const allowed = ctx.keysAt.get(pathKey(fullPath)) ?? ctx.keysAt.get(pathKey(issue.path)) ?? [];
      return issue.keys.map((key) => {
        const suggestion = closest(key, allowed);
        const where = formatIssuePath(fullPath, ctx.root);
        const fix =
          suggestion !== undefined
            ? `did you mean "${suggestion}"?`
            : allowed.length > 0
              ? `remove it; allowed fields: ${listed(allowed)}`
              : 'remove it';
        return {
          path: where,
          message: `"${key}" is not a field of ${where}; ${fix}`,
          ...(allowed.length > 0 ? { allowed } : {}),
          ...(suggestion !== undefined ? { suggestion } : {}),
        };
      });
    }
    case 'invalid_value':
      return [optionIssue(issue.values, value, present, custom, withValue, customWith)];
    case 'invalid_union': {
      if (issue.discriminator !== undefined && 'options' in issue && issue.options) {
        // zod reports a bad discriminator at the discriminator's own path (e.g. inputs.features[0].type).
        return [optionIssue(issue.options, value, present, custom, withValue, customWith)];
      }
      if (custom !== undefined) return [customWith()];
      return unionIssues(issue, value, present, ctx, fullPath, withValue);
    }
    case 'invalid_type': {
      if (!present || value === undefined) return [{ path, message: custom ?? 'is required', missing: true }];
      if (custom !== undefined) return [customWith()];
      return [
        withValue(
          `expected ${expectedPhrase(issue.expected)}, got ${kindOf(value)}${quoteHint(issue, value)}`,
        ),
      ];
    }
    case 'too_small':
    case 'too_big': {
      if (custom !== undefined) return [customWith()];
      return [withValue(sizeMessage(issue, value))];
    }
    case 'invalid_format': {
      if (custom !== undefined) return [customWith()];
      const pattern =
        'pattern' in issue && issue.pattern ? `match ${issue.pattern}` : `be a valid ${issue.format}`;
      return [withValue(`must ${pattern}, got ${shown ?? 'nothing'}`)];
    }
    case 'not_multiple_of':
      return [
        custom !== undefined
          ? customWith()
          : withValue(`must be a multiple of ${issue.divisor}, got ${shown}`),
      ];
    case 'invalid_key': {
      const key = String(fullPath.at(-1));
      const inner = issue.issues
        .map((i) => (i.message === GENERATED ? defaultText(i) : i.message))
        .join('; ');
      return [{ path, message: `key "${cut(key)}" is not allowed: ${custom ?? inner}; rename it` }];
    }
    default:
      // custom (refinements) and invalid_element: the schema's message already says what is wrong.
      if (custom === undefined) return [withValue(`is not valid (got ${shown ?? 'nothing'})`)];
      return [
        // Messages that already show the value (e.g. the reserved-name one quotes it) are not told it twice.
        present &&
        isPrimitive(value) &&
        !/\bgot\b/.test(custom) &&
        !(shown !== undefined && custom.includes(shown))
          ? customWith()
          : { path, message: custom, ...(present ? {} : { missing: true as const }) },
      ];
  }
}

/** A value outside an enum, a literal or a discriminator's options. */
function optionIssue(
  options: readonly unknown[],
  value: unknown,
  present: boolean,
  custom: string | undefined,
  withValue: (m: string, extra?: Omit<ExplainedIssue, 'path' | 'message' | 'value'>) => ExplainedIssue,
  customWith: (hint?: string, extra?: Omit<ExplainedIssue, 'path' | 'message' | 'value'>) => ExplainedIssue,
): ExplainedIssue {
  const allowed = options.map((o) => JSON.stringify(o));
  const suggestion =
    typeof value === 'string'
      ? closest(
          value,
          options.filter((o): o is string => typeof o === 'string'),
        )
      : undefined;
  const extra = { allowed, ...(suggestion !== undefined ? { suggestion } : {}) };
  const mean = suggestion !== undefined ? `; did you mean "${suggestion}"?` : '';
  if (custom !== undefined) return customWith(mean, extra);
  if (!present || value === undefined) return withValue(`is required: one of ${allowed.join(', ')}`, extra);
  return withValue(`${describeValue(value)} is not one of ${allowed.join(', ')}${mean}`, extra);
}

/**
 * A value no branch of a union accepts. When every branch only disagrees on the type, the message lists the types;
 * otherwise the branch that got furthest (its issues are not about the value's type) explains itself.
 */
function unionIssues(
  issue: Extract<Issue, { code: 'invalid_union' }>,
  value: unknown,
  present: boolean,
  ctx: Context,
  fullPath: readonly PropertyKey[],
  withValue: (m: string) => ExplainedIssue,
): ExplainedIssue[] {
  const branches = issue.errors;
  const typeOnly = (b: readonly Issue[]) =>
    b.length === 1 && b[0]!.code === 'invalid_type' && b[0]!.path.length === 0;
  const closer = branches.find((b) => b.length > 0 && !typeOnly(b));
  if (closer !== undefined) return closer.flatMap((i) => explain(i, { ...ctx, base: fullPath }));
  const expected = branches
    .filter(typeOnly)
    .map((b) => expectedPhrase((b[0] as Extract<Issue, { code: 'invalid_type' }>).expected));
  if (!present || value === undefined) return [withValue('is required')];
  return [withValue(`expected ${orList(expected)}, got ${kindOf(value)}`)];
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  null: 'null',
  array: 'an array',
  object: 'an object',
  record: 'an object',
  tuple: 'an array',
  bigint: 'a whole number',
  date: 'a date',
};

function expectedPhrase(expected: string): string {
  return EXPECTED[expected] ?? `a ${expected}`;
}

/** "the string \"12\"", "the number 1.5", "an array of 3 items", "an object", … */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  switch (typeof value) {
    case 'string':
      return `the string ${describeValue(value)}`;
    case 'number':
      return `the number ${describeValue(value)}`;
    case 'boolean':
      return `the boolean ${String(value)}`;
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

/** The most common slip in hand-written JSON: a number or boolean in quotes. */
function quoteHint(issue: Extract<Issue, { code: 'invalid_type' }>, value: unknown): string {
  if (typeof value !== 'string') return '';
  const wantsNumber = issue.expected === 'number' || issue.expected === 'int';
  if (wantsNumber && value.trim() !== '' && Number.isFinite(Number(value))) {
    return `; write ${value.trim()} without quotes`;
  }
  if (issue.expected === 'boolean' && (value === 'true' || value === 'false')) {
    return `; write ${value} without quotes`;
  }
  return '';
}

function sizeMessage(issue: Extract<Issue, { code: 'too_small' | 'too_big' }>, value: unknown): string {
  const small = issue.code === 'too_small';
  const limit = small
    ? (issue as { minimum: number | bigint }).minimum
    : (issue as { maximum: number | bigint }).maximum;
  const bound = issue.exact ? 'exactly' : small ? 'at least' : 'at most';
  const unit = (n: number | bigint, one: string, many: string) => `${n} ${Number(n) === 1 ? one : many}`;
  switch (issue.origin) {
    case 'string':
      return `must be ${bound} ${unit(limit, 'character', 'characters')}, got ${String((value as string).length)}`;
    case 'array':
    case 'set':
      return `must have ${bound} ${unit(limit, 'item', 'items')}, got ${String((value as unknown[]).length)}`;
    default: {
      const op = small ? (issue.inclusive === false ? '>' : '>=') : issue.inclusive === false ? '<' : '<=';
      return `must be ${op} ${limit}, got ${describeValue(value)}`;
    }
  }
}

/** Zod's own text for nested issues that cannot be explained with a value (e.g. a record key's checks). */
function defaultText(issue: Issue): string {
  if (issue.code === 'invalid_format' && 'pattern' in issue) return `must match ${String(issue.pattern)}`;
  return issue.code.replaceAll('_', ' ');
}

/** JSON of the value, cut to `MAX_VALUE_CHARS`; `nothing` for undefined. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return cut(text);
}

function cut(text: string): string {
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 3)}...` : text;
}

function isPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

function orList(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? 'another value';
  return `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

function listed(items: readonly string[]): string {
  const shown = items.slice(0, MAX_LISTED).map((k) => `"${k}"`);
  return items.length > MAX_LISTED ? `${shown.join(', ')}, … (${items.length} in all)` : shown.join(', ');
}

/** `inputs.features[0].type`; `root` for the document itself. */
export function formatIssuePath(path: readonly PropertyKey[], root: string): string {
  if (path.length === 0) return root;
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

function pathKey(path: readonly PropertyKey[]): string {
  return JSON.stringify(path.map((p) => (typeof p === 'symbol' ? String(p) : p)));
}

function hasValueAt(root: unknown, path: readonly PropertyKey[]): boolean {
  let current: unknown = root;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return false;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return true;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = root;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * The allowed name closest to `word` by edit distance (optimal string alignment: a swap of two neighbours counts
 * once), when it is close enough to be a slip: at most a third of the longer word's length (at least 1), or the same
 * word in another case. Undefined when nothing is that close.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const d = candidate.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, candidate);
    const limit = Math.max(1, Math.floor(Math.max(word.length, candidate.length) / 3));
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
