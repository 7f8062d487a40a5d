/**
 * Drift counting as an after-response hook (DESIGN.md decision 5, docs/drift.md): every served instance is counted
 * into the answering version's baseline bins in memory (lambdas/core/drift-counter.ts) — its features, and its
 * prediction (the context's formatted `predictions`, the objects of the response) when the baseline has a
 * prediction baseline — and the deltas are ADDed to the DriftCounters table every `flushSeconds`, when the pending
 * buckets reach the size bound, and on `close()`.
 *
 * A version without a baseline costs one property read; one without a prediction baseline counts features only. A failed flush never fails a request: it is logged, and
 * its deltas are kept for the next flush, up to `maxRetainedDeltas` (beyond that the oldest are dropped and the
 * drop is logged — the monitor then sees fewer rows, never wrong ones).
 *
 * Shutdown: Lambda delivers SIGTERM only to functions with an extension registered; this project registers none,
 * so in Lambda the counts since the last flush (at most `flushSeconds` of traffic) are lost when an environment is
 * reclaimed. The hook flushes from the request path (the app awaits hooks before returning, so the flush runs
 * before Lambda freezes the environment). Local mode calls `close()` when the server closes.
 */
import { DriftCounter, type DriftDelta } from '../core/drift-counter';
import type { DriftCounterStore, StructuredLogger } from '../core/ports';
import type { AfterResponseHook } from './hooks';

export interface DriftHookOptions {
  readonly store: DriftCounterStore;
  readonly logger: StructuredLogger;
  readonly now: () => number;
  /** Config `drift.flushSeconds`. */
  readonly flushSeconds: number;
  /** Pending (model, version, bucket) pairs that force a flush. @default DEFAULT_MAX_PENDING_BUCKETS */
  readonly maxPendingBuckets?: number;
  /** Deltas of failed flushes kept for the next one. @default 256 */
  readonly maxRetainedDeltas?: number;
}

export interface DriftHook extends AfterResponseHook {
  /** Writes every pending delta now; failures are retained like an interval flush's. */
  flush(): Promise<void>;
  /** Flushes what is pending (server close). */
  close(): Promise<void>;
  /** Flushes that failed since start, for tests and logs. */
  readonly failedFlushes: number;
}

export function createDriftHook(options: DriftHookOptions): DriftHook {
  const { store, logger, now } = options;
  const flushMs = options.flushSeconds * 1000;
  const maxRetained = options.maxRetainedDeltas ?? 256;
  const counter = new DriftCounter(options.maxPendingBuckets);
  let retained: DriftDelta[] = [];
  let lastFlush = now();
  let failedFlushes = 0;
  let flushing: Promise<void> | undefined;

  const flushNow = async (): Promise<void> => {
    lastFlush = now();
    const deltas = [...retained, ...counter.drain()];
    retained = [];
    const failed: DriftDelta[] = [];
    for (const d of deltas) {
      try {
        await store.addCounts(d.model, d.version, d.bucketStartMs, d.counts);
      } catch (err) {
        failed.push(d);
        logger.warn('drift counters could not be written; they are kept for the next flush', {
          model: d.model,
          version: d.version,
          bucket: d.bucketStartMs,
          rows: d.counts.total,
          error: err as Error,
        });
      }
    }
    if (failed.length > 0) {
      failedFlushes++;
      // A retried delta is ADDed again in full: a part that did land before the failure is counted twice. Rare
      // (a split bucket failing half-way) and it inflates counts without changing their shares much.
      const dropped = failed.length - maxRetained;
      if (dropped > 0) {
        logger.error('drift counters dropped after repeated flush failures', { deltas: dropped });
      }
      retained = dropped > 0 ? failed.slice(dropped) : failed;
    }
  };

  const flush = (): Promise<void> => {
    flushing ??= flushNow().finally(() => {
      flushing = undefined;
    });
    return flushing;
  };

  return {
    name: 'drift',
    get failedFlushes() {
      return failedFlushes;
    },
    onServed(ctx) {
      const baseline = ctx.manifest.baseline;
      if (baseline === undefined) return undefined;
      const nowMs = now();
      const full = counter.count(
        ctx.model,
        ctx.version,
        baseline,
        ctx.instances,
        nowMs,
        ctx.predictions,
        // Which baseline keys are tensor statistics (`image.norm`, `image.mean`); read once per version.
        ctx.manifest.inputs?.features,
      );
      if (full || nowMs - lastFlush >= flushMs) return flush();
      return undefined;
    },
    flush,
    close: flush,
  };
}
