import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../lib/config';

const minimal = { models: [{ name: 'breast-cancer', owner: 'ml-platform' }] };

function issuesOf(raw: unknown): readonly string[] {
  try {
    parseConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).name).toBe('ConfigError');
    return (e as ConfigError).issues;
  }
  throw new Error('expected parseConfig to throw');
}

describe('parseConfig', () => {
  it('applies every default to a minimal config', () => {
    expect(parseConfig(minimal)).toEqual({
      project: 'modelops',
      stage: 'dev',
      env: {},
      registry: {
        maxArtifactBytes: 512 * 1024 * 1024,
        incomingExpirationDays: 14,
        noncurrentVersionExpirationDays: 90,
      },
      retention: { logDays: 365, accessLogDays: 365 },
      release: { reservedConcurrency: 5 },
      models: [
        {
          name: 'breast-cancer',
          owner: 'ml-platform',
          target: 'lambda',
          riskTier: 'medium',
          memoryMb: 1024,
          timeoutSeconds: 10,
        },
      ],
    });
  });

  it('accepts the repository modelops.config.ts', async () => {
    const { default: raw } = await import('../../modelops.config');
    expect(parseConfig(raw).models.map((m) => m.name)).toEqual(['breast-cancer', 'credit-risk']);
  });

  it('rejects a bad pattern naming the field and value', () => {
    expect(issuesOf({ ...minimal, project: 'Bad_Name' })).toEqual([
      expect.stringMatching(/^project: .*"Bad_Name"/),
    ]);
    expect(issuesOf({ ...minimal, env: { region: 'moon-1' } })).toEqual([
      expect.stringMatching(/^env\.region: must be an AWS region.*"moon-1"/),
    ]);
  });

  it('rejects out-of-range numbers naming the field and value', () => {
    expect(issuesOf({ ...minimal, registry: { incomingExpirationDays: 0 } })).toEqual([
      expect.stringMatching(/registry\.incomingExpirationDays: must be at least 1 days \(got 0\)/),
    ]);
    expect(issuesOf({ ...minimal, retention: { logDays: 42 } })).toEqual([
      expect.stringMatching(
        /retention\.logDays: must be one of CloudWatch Logs' retention periods.*\(got 42\)/,
      ),
    ]);
  });

  it('rejects a wrong type and an unknown key', () => {
    const issues = issuesOf({ ...minimal, stage: 7, colour: 'blue' });
    expect(issues.some((i) => i.startsWith('stage:') && i.includes('(got 7)'))).toBe(true);
    expect(issues.some((i) => i.includes('colour'))).toBe(true);
  });

  it('rejects missing and duplicate models naming the index', () => {
    expect(issuesOf({})).toEqual([expect.stringMatching(/^models: .*\(got nothing\)/)]);
    expect(issuesOf({ models: [] })).toEqual([expect.stringMatching(/^models: list at least one model/)]);
    const dup = issuesOf({ models: [minimal.models[0], minimal.models[0]] });
    expect(dup).toEqual([expect.stringMatching(/^models\[1\]\.name: duplicates model "breast-cancer"/)]);
  });

  it('rejects a bad model entry naming the nested field', () => {
    const issues = issuesOf({ models: [{ name: 'breast-cancer', owner: ' ', memoryMb: 64 }] });
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^models\[0\]\.owner: must name the owning team/),
        expect.stringMatching(/^models\[0\]\.memoryMb: must be at least 128 MB \(got 64\)/),
      ]),
    );
  });

  it('rejects a bad alarm e-mail', () => {
    expect(issuesOf({ ...minimal, alarmEmail: 'oncall' })).toEqual([
      expect.stringMatching(/^alarmEmail: must be an e-mail address.*\(got "oncall"\)/),
    ]);
  });
});
