/** In-memory DriftCounterStore and MonitorStateStore for drift-monitor tests (the real ones are DynamoDB adapters). */
import { sumCounts, type WindowCounts } from '../../lambdas/core/drift';
import {
  MonitorStateConflictError,
  type DriftCounterStore,
  type DriftLayout,
  type MonitorStateRecord,
  type MonitorStateStore,
} from '../../lambdas/core/ports';

/** One item per (model, version, bucket), like DriftCounters: adding to a bucket never adds an item. */
export class MemoryDriftCounters implements DriftCounterStore {
  readonly buckets = new Map<
    string,
    { model: string; version: string; startMs: number; counts: WindowCounts }
  >();

  async addCounts(
    model: string,
    version: string,
    bucketStartMs: number,
    counts: WindowCounts,
  ): Promise<void> {
    const key = `${model}#${version}#${bucketStartMs}`;
    const current = this.buckets.get(key);
    this.buckets.set(key, {
      model,
      version,
      startMs: bucketStartMs,
      counts: current ? sumCounts([current.counts, counts]) : counts,
    });
  }

  async readWindow(model: string, version: string, fromMs: number, toMs: number, _layout: DriftLayout) {
    const items = [...this.buckets.values()].filter(
      (b) => b.model === model && b.version === version && b.startMs >= fromMs && b.startMs < toMs,
    );
    return {
      counts: items.length ? sumCounts(items.map((b) => b.counts)) : undefined,
      itemsRead: items.length,
    };
  }
}

export class MemoryMonitorState implements MonitorStateStore {
  readonly records = new Map<string, MonitorStateRecord>();
  /** Runs just before the conditional write, to simulate a twin run writing first. */
  beforePut?: () => void;

  async getState(model: string, kind: string): Promise<MonitorStateRecord | undefined> {
    return this.records.get(`${model}#${kind}`);
  }
  async putState(record: MonitorStateRecord, options: { readonly expectedRevision: number | undefined }) {
    this.beforePut?.();
    const key = `${record.model}#${record.kind}`;
    if (this.records.get(key)?.revision !== options.expectedRevision) {
      throw new MonitorStateConflictError(record.model, record.kind, options.expectedRevision);
    }
    this.records.set(key, structuredClone(record));
  }
}
