/** The EventBridge evaluator the trigger tests rely on, checked against the documented semantics it encodes. */
import { describe, expect, it } from 'vitest';
import { RELEASE_TRIGGER_KEY_WILDCARD, startsRelease } from '../../lambdas/core/release-trigger';
import { TRIGGER_CASES } from '../fixtures/release-trigger-keys';
import { matchesEventPattern, UnsupportedPatternError, wildcardMatches } from './event-pattern';

describe('EventBridge evaluator', () => {
  it.each([
    ['*.png', 'a.png', true],
    ['*.png', '.png', true],
    ['*.png', 'dir/a.png', true],
    ['dir/*', 'dir/a/b', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'acb', false],
    ['Title', 'title', false],
    ['a\\*', 'a*', true],
    ['a\\*', 'ab', false],
    ['a\\\\b', 'a\\b', true],
  ] as const)('wildcard %j on %j: %s', (pattern, value, expected) => {
    expect(wildcardMatches(pattern, value)).toBe(expected);
  });

  it('ANDs fields, ORs array values, and fails a pattern field missing from the event', () => {
    const pattern = { source: ['aws.s3'], detail: { key: [{ prefix: 'in/' }, { suffix: '.json' }] } };
    expect(matchesEventPattern(pattern, { source: 'aws.s3', detail: { key: 'x.json' } })).toBe(true);
    expect(matchesEventPattern(pattern, { source: 'aws.s3', detail: { key: 'in/x' } })).toBe(true);
    expect(matchesEventPattern(pattern, { source: 'aws.ec2', detail: { key: 'in/x' } })).toBe(false);
    expect(matchesEventPattern(pattern, { source: 'aws.s3', detail: {} })).toBe(false);
    expect(matchesEventPattern(pattern, { source: 'aws.s3' })).toBe(false);
  });

  it('refuses operators it does not implement instead of passing them', () => {
    expect(() => matchesEventPattern({ key: [{ 'anything-but': 'x' }] }, { key: 'y' })).toThrow(
      new UnsupportedPatternError('operator "anything-but" is not supported by this evaluator'),
    );
  });
});

describe('startsRelease (the local matcher)', () => {
  it.each(TRIGGER_CASES)('$key: $startsRelease ($why)', ({ key, startsRelease: expected }) => {
    expect(startsRelease(key)).toBe(expected);
    // Same answer as the evaluator of EventBridge's wildcard on the same definition.
    expect(wildcardMatches(RELEASE_TRIGGER_KEY_WILDCARD, key)).toBe(expected);
  });
});
