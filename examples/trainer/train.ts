/**
 * The example trainer (Node only; examples/trainer/README.md): the retrain contract's command,
 *
 *   tsx examples/trainer/train.ts --data <train.csv> --manifest <parent manifest.json> --out <dir>
 *
 * trains a binary logistic regression on the CSV, evaluates it on a seeded held-out split under the metric names the
 * parent manifest reports, and writes `<dir>/model.onnx` (inputs and outputs exactly the parent's) and
 * `<dir>/report.json` = { metrics, rows: { train, heldOut }, trainer }. Exit code 0 on success; 1 with the reason on
 * stderr otherwise.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseManifestText, type Manifest } from '../../lambdas/core/manifest';
import { parseReferenceCsv } from '../../lambdas/core/reference-csv';
import { computeMetrics } from './metrics';
import {
  fit,
  graphOf,
  layoutOf,
  predictRows,
  splitRows,
  typeRows,
  type FitOptions,
  type TrainedModel,
  type TypedRow,
} from './logistic';
import { exportLogisticOnnx } from './onnx-export';

export const TRAINER_NAME = 'examples/trainer ml-logistic-regression 2.0.0 (standardised numerics, one-hot)';
export const HELD_OUT_SHARE = 0.25;
export const SPLIT_SEED = 20261204;

export interface TrainReport {
  readonly metrics: Record<string, number>;
  readonly rows: { readonly train: number; readonly heldOut: number };
  readonly trainer: string;
}

export interface TrainResult {
  readonly onnx: Uint8Array;
  readonly report: TrainReport;
  readonly model: TrainedModel;
  /** The held-out rows and the model's P(labels[1]) on each (what the metrics were computed from). */
  readonly heldOut: readonly TypedRow[];
  readonly heldOutP: readonly number[];
}

/** Trains from CSV text and a parsed parent manifest; pure apart from CPU. Throws with a reason naming the input. */
export function trainFromCsv(manifest: Manifest, csv: string, options: FitOptions = {}): TrainResult {
  const layout = layoutOf(manifest);
  const { rows } = parseReferenceCsv(csv, [...manifest.inputs.features.map((f) => f.name), 'label']);
  const typed = typeRows(manifest, layout.labels, rows);
  const { train, heldOut } = splitRows(typed, HELD_OUT_SHARE, SPLIT_SEED);
  for (const [name, part] of [
    ['training', train],
    ['held-out', heldOut],
  ] as const) {
    for (const cls of [0, 1]) {
      if (!part.some((r) => r.y === cls)) {
        throw new Error(
          `the ${name} split has no row labelled "${layout.labels[cls]}" (${typed.length} rows in all); add labelled rows of both classes`,
        );
      }
    }
  }
  const model = fit(layout, train, options);
  const p = predictRows(model, heldOut);
  const metrics = computeMetrics(
    Object.keys(manifest.metrics),
    heldOut.map((r) => r.y),
    p,
  );
  const onnx = exportLogisticOnnx(graphOf(model, `Retrained from ${manifest.name} ${manifest.version}.`));
  return {
    onnx,
    report: { metrics, rows: { train: train.length, heldOut: heldOut.length }, trainer: TRAINER_NAME },
    model,
    heldOut,
    heldOutP: p,
  };
}

/** The command: parses `argv`, trains, writes the two files. Rejects with the reason (the program exits 1). */
export async function runTrainer(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { data: { type: 'string' }, manifest: { type: 'string' }, out: { type: 'string' } },
    strict: true,
  });
  for (const flag of ['data', 'manifest', 'out'] as const) {
    if (values[flag] === undefined)
      throw new Error(`--${flag} is required (--data <csv> --manifest <json> --out <dir>)`);
  }
  const manifestText = await readFile(values.manifest!, 'utf8').catch((err: unknown) => {
    throw new Error(`--manifest ${values.manifest}: cannot be read (${(err as Error).message})`);
  });
  const parsed = parseManifestText(manifestText);
  if (!parsed.ok) {
    throw new Error(
      `--manifest ${values.manifest}: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    );
  }
  const started = performance.now();
  const csv = await readFile(values.data!, 'utf8').catch((err: unknown) => {
    throw new Error(`--data ${values.data}: cannot be read (${(err as Error).message})`);
  });
  const { onnx, report } = trainFromCsv(parsed.manifest, csv);
  await mkdir(values.out!, { recursive: true });
  await writeFile(path.join(values.out!, 'model.onnx'), onnx);
  await writeFile(path.join(values.out!, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(
    `trained on ${report.rows.train} rows, held out ${report.rows.heldOut} in ${Math.round(performance.now() - started)} ms: ` +
      `${JSON.stringify(report.metrics)}\n`,
  );
}

// Run as a program (tsx examples/trainer/train.ts …), not when a test imports it.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  runTrainer(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`train: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
