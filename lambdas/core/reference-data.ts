/**
 * A bundle's reference data, whichever form it takes: `reference.csv` (one column per feature) or, for models with
 * tensor features, `reference.jsonl` (one instance per line, in the value forms of a request). Gives the baseline
 * profile and the reference instances as the inference path would receive them, for the prediction baseline.
 */
import {
  computeBaseline,
  computeInstanceBaseline,
  parseReferenceJsonl,
  referenceValue,
  type BaselineOptions,
} from './baseline';
import type { Instance } from './features';
import type { Baseline, Feature } from './manifest';
import { ownValue } from './own';
import { parseReferenceCsv } from './reference-csv';

export interface ReferenceProfile {
  readonly baseline: Baseline;
  /** One per reference row or line, holding only declared features (a label column is left out). */
  readonly instances: readonly Instance[];
}

/** Whether a reference file is JSON lines (by its name: `.jsonl` or `.ndjson`). */
export const isJsonLinesReference = (fileName: string): boolean => /\.(?:jsonl|ndjson)$/i.test(fileName);

/**
 * Profiles reference text: JSON lines when `fileName` ends in `.jsonl`/`.ndjson`, CSV otherwise. Throws
 * `ReferenceDataError` naming the column/line and row of the first problem.
 *
 * @example const { baseline, instances } = profileReference(text, 'reference.jsonl', manifest.inputs.features);
 */
export function profileReference(
  text: string,
  fileName: string,
  features: readonly Feature[],
  options: BaselineOptions = {},
): ReferenceProfile {
  if (isJsonLinesReference(fileName)) {
    const lines = parseReferenceJsonl(text);
    const baseline = computeInstanceBaseline(features, lines, options);
    const instances = lines.map((line) => {
      const instance: Record<string, unknown> = {};
      for (const f of features) if (Object.hasOwn(line, f.name)) instance[f.name] = line[f.name];
      return instance as Instance;
    });
    return { baseline, instances };
  }
  const { rows } = parseReferenceCsv(
    text,
    features.map((f) => f.name),
  );
  const baseline = computeBaseline(features, rows, options);
  const instances = rows.map((cells, i) => {
    const instance: Record<string, unknown> = {};
    for (const f of features) instance[f.name] = referenceValue(f, ownValue(cells, f.name) ?? '', i + 1);
    return instance as Instance;
  });
  return { baseline, instances };
}
