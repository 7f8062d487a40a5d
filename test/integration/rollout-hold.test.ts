/**
 * canary.judge.onExhausted "hold": a canary that stays inconclusive past its extensions (here: no traffic at all) is
 * never promoted and, instead of being rolled back, keeps its weight for an operator; the execution ends CanaryHeld.
 * The real release ASL and handlers against the emulators, with the local inference server's metric store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutState } from '../../lambdas/core/rollout';
import { inferenceService } from '../../local/inference-server';
import { loadExample, startHarness, types, type Harness } from './harness';

const MODEL = 'breast-cancer';
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    config: {
      models: [
        {
          name: MODEL,
          owner: 'ml-platform',
          canary: {
            enabled: true,
            steps: [0.5],
            bakeSeconds: 0,
            judge: { maxExtensionsPerStep: 1, onExhausted: 'hold' },
          },
        },
      ],
    },
    services: [inferenceService({ port: 0 })],
  });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

async function release(version: string) {
  const { manifest, artifact } = await loadExample(MODEL);
  return h.release(await h.stage(MODEL, version, { ...manifest, version }, artifact));
}

describe('holding an inconclusive canary', () => {
  it('keeps the candidate at its weight and the lock, ends CanaryHeld; never promotes on no data', async () => {
    expect((await release('1.0.0')).status).toBe('SUCCEEDED');
    const result = await release('1.1.0');
    expect(result.status).toBe('FAILED');
    expect(result.error, JSON.stringify(result)).toBe('CanaryHeld');
    const held = result.history.find((e) => e.type === 'StateEntered' && e.state === 'CanaryHeld')?.input as {
      rollout: RolloutState;
    };
    expect(held.rollout).toMatchObject({ next: 'hold', reason: 'EXTENSIONS_EXHAUSTED', weight: 0.5 });
    const record = await h.metadata.deployments.getDeployment(MODEL);
    expect(record).toMatchObject({ stable: '1.0.0', candidate: '1.1.0', weight: 0.5 });
    expect(record?.rollout?.candidate).toBe('1.1.0');
    const ledger = types(await h.audit(MODEL, '1.1.0'));
    expect(ledger).not.toContain('PROMOTED');
    expect(ledger).not.toContain('ROLLED_BACK');
    const verdicts = (await h.audit(MODEL, '1.1.0')).filter((e) => e.type === 'CANARY_VERDICT');
    expect(verdicts.map((v) => v.details.decision)).toEqual(['inconclusive', 'exhausted']);
  }, 120_000);
});
