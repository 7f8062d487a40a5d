/**
 * A small, independent evaluator of EventBridge event patterns, for the filters this project uses: exact values,
 * `prefix`, `suffix` and `wildcard`. Semantics from the EventBridge user guide ("Content filtering in Amazon
 * EventBridge event patterns", "Comparison operators for use in event patterns"):
 * - fields of a pattern are AND-ed; the values in a field's array are OR-ed; a pattern field absent from the event
 *   fails the match; event fields absent from the pattern are ignored;
 * - matching is exact and case-sensitive; `prefix`/`suffix` compare the start/end of a string;
 * - `wildcard`: `*` matches zero, one or several characters, any character (`/` included); `\*` is a literal star
 *   and `\\` a literal backslash.
 * Anything else throws, so a pattern using another operator cannot silently pass.
 */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export class UnsupportedPatternError extends Error {
  override name = 'UnsupportedPatternError';
}

/** EventBridge's `wildcard`, by dynamic programming over (pattern token, value position): no regular expressions. */
export function wildcardMatches(pattern: string, value: string): boolean {
  const tokens: ({ star: true } | { char: string })[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next !== '*' && next !== '\\')
        throw new UnsupportedPatternError(`bad escape in wildcard "${pattern}"`);
      tokens.push({ char: next });
      i++;
    } else if (c === '*') {
      tokens.push({ star: true });
    } else {
      tokens.push({ char: c });
    }
  }
  // reachable[j]: the tokens so far can match value.slice(0, j).
  let reachable = Array.from({ length: value.length + 1 }, (_, j) => j === 0);
  for (const token of tokens) {
    const next = new Array<boolean>(value.length + 1).fill(false);
    for (let j = 0; j <= value.length; j++) {
      if ('star' in token) next[j] = reachable[j]! || (j > 0 && next[j - 1]!);
      else next[j] = j > 0 && reachable[j - 1]! && value[j - 1] === token.char;
    }
    reachable = next;
  }
  return reachable[value.length]!;
}

function matchesValue(filter: Json, value: Json | undefined): boolean {
  if (value === undefined) return false;
  if (filter === null || typeof filter !== 'object') return filter === value;
  if (Array.isArray(filter)) throw new UnsupportedPatternError('nested arrays in a pattern');
  const [operator, ...rest] = Object.keys(filter);
  if (rest.length > 0 || operator === undefined) {
    throw new UnsupportedPatternError(`one operator per filter, got ${JSON.stringify(filter)}`);
  }
  const argument = filter[operator];
  if (typeof argument !== 'string') throw new UnsupportedPatternError(`${operator} takes a string`);
  if (typeof value !== 'string') return false;
  switch (operator) {
    case 'prefix':
      return value.startsWith(argument);
    case 'suffix':
      return value.endsWith(argument);
    case 'wildcard':
      return wildcardMatches(argument, value);
    default:
      throw new UnsupportedPatternError(`operator "${operator}" is not supported by this evaluator`);
  }
}

/** True when `event` matches `pattern` (both JSON objects, the pattern as CloudFormation holds it). */
export function matchesEventPattern(pattern: object, event: object): boolean {
  const fields = pattern as Record<string, Json>;
  const values = event as Record<string, Json>;
  return Object.entries(fields).every(([field, filter]) => {
    const value = values[field];
    if (Array.isArray(filter)) {
      // An event array matches when any of its elements matches any filter.
      const candidates = Array.isArray(value) ? value : [value];
      return filter.some((f) => candidates.some((v) => matchesValue(f, v)));
    }
    if (filter !== null && typeof filter === 'object') {
      return (
        value !== null &&
        typeof value === 'object' &&
        !Array.isArray(value) &&
        matchesEventPattern(filter, value)
      );
    }
    throw new UnsupportedPatternError(`field "${field}" must hold an array or an object`);
  });
}
