/**
 * DriftCounterStore on the DriftCounters table (lambdas/core/tables.ts): one item per (`<model>#<version>`, bucket
 * start ms) with one flat number attribute per counter — `f.<feature>.<bin>`, `f.<feature>.m` (missing),
 * `p.<output>.<bin>` / `p.<output>.m` and `n` (rows) — so concurrent writers ADD into the same item and the sums are
 * exact (DynamoDB ADD on a number is atomic). The group prefix comes first, so a feature and an output of the same
 * name never share a counter; the bin is what follows the last `.`, so dots inside names are safe. A layout with
 * `predictions` (a version with a prediction baseline) reads the `p.` counters back; one without ignores them.
 *
 * DynamoDB caps any expression string at 4 KB, so the counters of one bucket are split into several UpdateItem
 * calls whose expressions stay under EXPRESSION_BUDGET; every part is itself an atomic ADD, so a reader can see a
 * bucket between parts (harmless: counts only ever grow) and a failed part can be retried on its own.
 */
import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

import type { BinCounts, WindowCounts } from '../core/drift';
import type { DriftCounterStore, DriftLayout } from '../core/ports';
import { storeCall } from './dynamo-helpers';

/** Counter items expire 14 days after their bucket: longer than any drift window the monitor reads. */
export const DRIFT_COUNTER_TTL_MS = 14 * 24 * 60 * 60 * 1000;

/** Bytes of update expression per call; below DynamoDB's 4 KB expression limit with room for the SET clause. */
const EXPRESSION_BUDGET = 3_500;

function seriesKey(model: string, version: string): string {
  return `${model}#${version}`;
}

function counters(counts: WindowCounts): [string, number][] {
  const out: [string, number][] = [];
  const group = (prefix: string, g: Readonly<Record<string, BinCounts>> | undefined): void => {
    if (g === undefined) return;
    for (const name of Object.keys(g)) {
      const c = g[name]!;
      c.counts.forEach((v, i) => {
        if (v !== 0) out.push([`${prefix}.${name}.${i}`, v]);
      });
      if (c.missing !== 0) out.push([`${prefix}.${name}.m`, c.missing]);
    }
  };
  if (counts.total !== 0) out.push(['n', counts.total]);
  group('f', counts.features);
  group('p', counts.predictions);
  return out;
}

export class DynamoDriftCounterStore implements DriftCounterStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async addCounts(
    model: string,
    version: string,
    bucketStartMs: number,
    counts: WindowCounts,
  ): Promise<void> {
    const all = counters(counts);
    if (all.length === 0) return;
    const expiresAt = Math.floor((bucketStartMs + DRIFT_COUNTER_TTL_MS) / 1000);
    let i = 0;
    while (i < all.length) {
      const names: Record<string, string> = { '#e': 'expiresAt' };
      const values: Record<string, number> = { ':e': expiresAt };
      const adds: string[] = [];
      let size = 0;
      while (i < all.length && (adds.length === 0 || size < EXPRESSION_BUDGET)) {
        const [attr, v] = all[i]!;
        const clause = `#a${adds.length} :v${adds.length}`;
        names[`#a${adds.length}`] = attr;
        values[`:v${adds.length}`] = v;
        adds.push(clause);
        size += clause.length + 2;
        i++;
      }
      await storeCall('DriftCounters.addCounts', () =>
        this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { series: seriesKey(model, version), bucket: bucketStartMs },
            UpdateExpression: `ADD ${adds.join(', ')} SET #e = if_not_exists(#e, :e)`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        ),
      );
    }
  }

  async readWindow(
    model: string,
    version: string,
    fromMs: number,
    toMs: number,
    layout: DriftLayout,
  ): Promise<{ readonly counts: WindowCounts | undefined; readonly itemsRead: number }> {
    const make = (l: Readonly<Record<string, number>>) =>
      Object.fromEntries(
        Object.keys(l).map((k) => [k, { counts: new Array<number>(l[k]!).fill(0), missing: 0 }]),
      ) as Record<string, { counts: number[]; missing: number }>;
    const features = make(layout.features);
    const predictions = layout.predictions === undefined ? undefined : make(layout.predictions);
    let total = 0;
    let itemsRead = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await storeCall('DriftCounters.readWindow', () =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: '#s = :s AND #b BETWEEN :from AND :to',
            ExpressionAttributeNames: { '#s': 'series', '#b': 'bucket' },
            // BETWEEN is inclusive; the window is [fromMs, toMs).
            ExpressionAttributeValues: { ':s': seriesKey(model, version), ':from': fromMs, ':to': toMs - 1 },
            ExclusiveStartKey: start,
          }),
        ),
      );
      itemsRead += page.Count ?? 0;
      for (const item of page.Items ?? []) {
        for (const [attr, raw] of Object.entries(item)) {
          if (typeof raw !== 'number') continue;
          if (attr === 'n') {
            total += raw;
            continue;
          }
          const group = attr.startsWith('f.') ? features : attr.startsWith('p.') ? predictions : undefined;
          if (group === undefined) continue;
          const dot = attr.lastIndexOf('.');
          const name = attr.slice(2, dot);
          const bin = attr.slice(dot + 1);
          if (!Object.hasOwn(group, name)) continue;
          const target = group[name]!;
          if (bin === 'm') target.missing += raw;
          else {
            const j = Number(bin);
            // A counter outside the layout was written against another baseline; it is left out, not summed.
            if (Number.isSafeInteger(j) && j >= 0 && j < target.counts.length) target.counts[j]! += raw;
          }
        }
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    if (itemsRead === 0) return { counts: undefined, itemsRead };
    const counts: WindowCounts =
      predictions === undefined ? { features, total } : { features, predictions, total };
    return { counts, itemsRead };
  }
}
