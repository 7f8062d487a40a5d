/**
 * Drift end to end in local mode: real requests through the local inference server count into the emulated
 * DriftCounters table, and local mode's drift runner (the deployed monitor's code) judges the windows. One fake clock
 * drives the counters' buckets, the metric store and the runner, so nothing depends on timing.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import { bucketStart, DRIFT_BUCKET_MS } from '../../lambdas/core/drift-counter';
import { DRIFT_DETECTED_DETAIL_TYPE, type MonitorOutcome } from '../../lambdas/core/drift-monitor';
import { promoteStable } from '../../lambdas/core/promotion';
import { DRIFT_METRICS, METRIC_DIMENSIONS, type DomainEvent } from '../../lambdas/core/ports';
import { driftService, type DriftRunner } from '../../local/drift-runner';
import { LocalEventBus } from '../../local/event-bus';
import { inferenceService } from '../../local/inference-server';
import { EXAMPLES_DIR, invokeModel, startHarness, type Harness } from './harness';

const MODEL = 'credit-risk';
const MIN = 60_000;
/** Two counter buckets (DRIFT_BUCKET_MS) per window. */
const WINDOW_MIN = 10;
const T0 = bucketStart(Date.UTC(2026, 0, 5, 12)) + DRIFT_BUCKET_MS;

let h: Harness;
let runner: DriftRunner | undefined;
let now = T0;
const bus = new LocalEventBus();
const driftEvents: DomainEvent[] = [];
bus.subscribe((e) => void driftEvents.push(e));
const metricStore = new TimeSeriesMetricsStore({ now: () => now });
let reference: Record<string, unknown>[] = [];

/** The reference rows as request instances (the label column dropped). */
async function referenceInstances(): Promise<Record<string, unknown>[]> {
  const [header, ...lines] = (await readFile(path.join(EXAMPLES_DIR, MODEL, 'reference.csv'), 'utf8'))
    .trim()
    .split('\n');
  const names = header!.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    const row: Record<string, unknown> = {};
    names.forEach((name, i) => {
      if (name === 'label') return;
      const cell = cells[i]!;
      row[name] =
        cell === 'true' || cell === 'false' ? cell === 'true' : /^-?\d/.test(cell) ? Number(cell) : cell;
    });
    return row;
  });
}

/** What a changed population looks like: richer, older applicants borrowing more, all with a guarantor. */
function shifted(row: Record<string, unknown>): Record<string, unknown> {
  return {
    ...row,
    income: (row.income as number) * 4,
    loan_amount: (row.loan_amount as number) * 4,
    age: Math.min(90, (row.age as number) + 25),
    has_guarantor: true,
  };
}

/** One window of traffic ending at the current clock, `rows` instances in batches of 64, then a flush. */
async function traffic(rows: number, shift: boolean): Promise<void> {
  const base = h.inference()!;
  for (let sent = 0; sent < rows; sent += 64) {
    const instances = Array.from({ length: Math.min(64, rows - sent) }, (_, i) => {
      const row = reference[(sent + i) % reference.length]!;
      return shift ? shifted(row) : row;
    });
    const r = await invokeModel(base.baseUrl, MODEL, { instances });
    expect(r.status, r.text).toBe(200);
  }
  await base.flushDrift!();
}

/** A window of traffic, half in each of its two counter buckets, then the monitor's run at the window's end. */
async function window(rows: number, shift: boolean): Promise<MonitorOutcome> {
  for (const half of [Math.ceil(rows / 2), Math.floor(rows / 2)]) {
    await traffic(half, shift);
    now += DRIFT_BUCKET_MS;
  }
  const [outcome] = await runner!.tick(now);
  return outcome!;
}

function judged(outcome: MonitorOutcome) {
  if (outcome.kind !== 'judged') throw new Error(`monitor skipped ${outcome.model}: ${outcome.reason}`);
  return outcome;
}

beforeAll(async () => {
  reference = await referenceInstances();
  h = await startHarness({
    config: {
      models: [
        {
          name: MODEL,
          owner: 'ml-platform',
          drift: {
            windowMinutes: WINDOW_MIN,
            minLiveCount: 500,
            persistence: { m: 2, n: 3 },
            cooldownMinutes: 30,
          },
        },
      ],
    },
    services: [
      inferenceService({
        port: 0,
        metricStore,
        driftClock: () => now,
        // Promotions below must reach the server at once, not after the routing cache's 5 s.
        environment: { ROUTING_CACHE_TTL_MS: '0' },
      }),
      // The interval is never reached: the test drives `tick` with its own clock.
      driftService({ metrics: metricStore, bus, intervalMs: 3_600_000, onRunner: (r) => (runner = r) }),
    ],
  });
  const v1 = await h.pushExample(MODEL);
  await promoteStable(h.metadata, { model: MODEL, version: v1, actor: 'test' });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

describe('local drift monitoring', () => {
  it('raises after m shifted windows with one event, clears with hysteresis, never calls thin data zero', async () => {
    // GIVEN the reference population: evaluated, calm
    const calm = judged(await window(640, false));
    expect(calm.result.status).toBe('evaluated');
    expect(calm.state.status).toBe('OK');
    expect(calm.itemsRead).toBe(WINDOW_MIN / 5);

    // WHEN the population shifts: the first drifted window is not enough (m = 2), the second raises
    const shiftedAt = now;
    const first = judged(await window(640, true));
    expect(first.result.status === 'evaluated' && first.result.driftedFeatures).toEqual(
      expect.arrayContaining(['income', 'loan_amount', 'age', 'has_guarantor']),
    );
    expect(first.state.status).toBe('OK');
    expect(driftEvents).toEqual([]);
    const started = performance.now();
    const raised = judged(await window(640, true));
    const wallMs = performance.now() - started;
    expect(raised.state.status).toBe('ALARM');
    expect(driftEvents.map((e) => e.detailType)).toEqual([DRIFT_DETECTED_DETAIL_TYPE]);
    expect(driftEvents[0]!.detail).toMatchObject({ model: MODEL, version: raised.version, liveCount: 640 });
    console.log(
      `shift -> ModelDriftDetected: ${(now - shiftedAt) / MIN} simulated minutes (${WINDOW_MIN}-minute ` +
        `windows, m = 2); the raising window's traffic, flush and monitor run took ${wallMs.toFixed(0)} ms`,
    );

    // THEN staying shifted emits nothing more; the audit ledger has the raise once
    expect(judged(await window(640, true)).state.status).toBe('ALARM');
    expect(driftEvents).toHaveLength(1);

    // AND a window below minLiveCount is insufficient data: no drift score at all, and the state does not move
    const thin = judged(await window(64, false));
    expect(thin.result.status).toBe('insufficient-data');
    expect(thin.state.status).toBe('ALARM');
    const byModel = { [METRIC_DIMENSIONS.model]: MODEL };
    const [share, count] = await metricStore.read({
      queries: [
        { id: 'share', metricName: DRIFT_METRICS.datasetDrift, dimensions: byModel, stat: 'Maximum' },
        { id: 'count', metricName: DRIFT_METRICS.windowCount, dimensions: byModel, stat: 'Maximum' },
      ],
      startMs: now - MIN,
      endMs: now + MIN,
      periodSeconds: 120,
    });
    expect(count!.values.filter((v) => v !== null)).toEqual([64]);
    expect(share!.values.filter((v) => v !== null)).toEqual([]);

    // AND n calm windows in a row clear it
    const statuses: string[] = [];
    for (let i = 0; i < 3; i++) statuses.push(judged(await window(640, false)).state.status);
    expect(statuses).toEqual(['ALARM', 'ALARM', 'OK']);
    const ledger = (await h.metadata.audit.listAudit(MODEL)).map((e) => e.type);
    expect(ledger.filter((t) => t.startsWith('DRIFT_'))).toEqual(['DRIFT_DETECTED', 'DRIFT_CLEARED']);
    expect(driftEvents).toHaveLength(1);
  }, 120_000);

  it('a promote re-baselines the monitor and its cooldown suppresses re-alarming', async () => {
    // GIVEN a new stable version
    const v2 = await h.pushExample(MODEL, '2.0.0');
    await promoteStable(h.metadata, { model: MODEL, version: v2, actor: 'test' });
    const before = driftEvents.length;
    // WHEN shifted traffic reaches it for the whole 30-minute cooldown
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push(judged(await window(640, true)));
    // THEN the first run re-baselines on 2.0.0 and none raises
    expect(outcomes[0]!.transition).toBe('rebaselined');
    expect(outcomes.every((o) => o.version === v2 && o.state.status !== 'ALARM')).toBe(true);
    expect(driftEvents).toHaveLength(before);
  }, 120_000);
});
