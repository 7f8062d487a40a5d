/**
 * `modelops feedback <model> --request-id <id> --label <l>` or `--csv <file>` (columns `requestId,label`): POSTs
 * labels to `POST /models/{name}/feedback` (docs/inference.md, Feedback), prints one outcome per label and a summary,
 * and exits 1 if any label failed. Targets the local server of `npm start` by default, like `modelops invoke`; a
 * deployed Function URL needs SigV4-signed requests, which this command does not sign (use awscurl there).
 *
 * One label per request id (a single-instance request); a multi-instance request is labelled with
 * `{"requestId","labels":[...]}` through the endpoint itself.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { modelNameSchema } from '../lambdas/core/manifest';
import { CliError, UsageError, type CliIo } from './errors';
import { DEFAULT_INFERENCE_URL, invokeUrl } from './invoke';

export interface FeedbackOptions {
  readonly requestId?: string;
  readonly label?: string;
  /** CSV with a header row naming `requestId` and `label` (other columns are ignored). */
  readonly csv?: string;
  /** Base URL of the endpoint. @default DEFAULT_INFERENCE_URL (env MODELOPS_INFERENCE_URL) */
  readonly url?: string;
  /** Seconds before giving up on each response. @default 30 */
  readonly timeoutSeconds?: number;
}

/** What happened to one label: `recorded`/`duplicate` succeed, anything else is the error code. */
export interface FeedbackRowResult {
  /** 1-based data row of the CSV (the header is row 0), or 1 for `--request-id`. */
  readonly row: number;
  readonly requestId: string;
  readonly status: number;
  readonly outcome: string;
  readonly message?: string;
  readonly ok: boolean;
}

export interface FeedbackResult {
  readonly rows: readonly FeedbackRowResult[];
  readonly exitCode: 0 | 1;
}

interface Label {
  readonly row: number;
  readonly requestId: string;
  readonly label: string;
}

/** The labels of a CSV: a header naming `requestId` and `label`, then one label per row. */
export function labelsFromCsv(text: string, file: string): Label[] {
  let records: Record<string, string>[];
  try {
    records = parse(text, { columns: true, skip_empty_lines: true, trim: true, bom: true }) as Record<
      string,
      string
    >[];
  } catch (err) {
    throw new UsageError(`--csv ${file} is not valid CSV: ${(err as Error).message}`);
  }
  if (records.length === 0)
    throw new UsageError(`--csv ${file} has no rows; add a header "requestId,label" and rows`);
  const columns = Object.keys(records[0]!);
  for (const needed of ['requestId', 'label']) {
    if (!columns.includes(needed)) {
      throw new UsageError(
        `--csv ${file} has no "${needed}" column (columns: ${columns.join(', ')}); the header must be "requestId,label"`,
      );
    }
  }
  return records.map((r, i) => ({ row: i + 1, requestId: r.requestId ?? '', label: r.label ?? '' }));
}

async function post(
  url: string,
  body: string,
  timeoutSeconds: number,
  base: string,
): Promise<{ status: number; json: unknown; raw: string }> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new CliError(
      `POST ${url} failed: ${cause ?? (err as Error).message}` +
        (base === DEFAULT_INFERENCE_URL ? ' (is `npm start` running?)' : ''),
    );
  }
  const raw = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, raw };
}

export async function feedback(model: string, options: FeedbackOptions, io: CliIo): Promise<FeedbackResult> {
  if (!modelNameSchema.safeParse(model).success) {
    throw new UsageError(`<model> "${model}" is not a model name (a-z, 0-9, "-")`);
  }
  const single = options.requestId !== undefined || options.label !== undefined;
  if (single && options.csv !== undefined) {
    throw new UsageError('pass either --request-id with --label, or --csv <file>, not both');
  }
  let labels: Label[];
  if (options.csv !== undefined) {
    let text: string;
    try {
      text = await readFile(options.csv, 'utf8');
    } catch (err) {
      throw new UsageError(`--csv ${options.csv} cannot be read: ${(err as Error).message}`);
    }
    labels = labelsFromCsv(text, options.csv);
  } else if (options.requestId !== undefined && options.label !== undefined) {
    labels = [{ row: 1, requestId: options.requestId, label: options.label }];
  } else {
    throw new UsageError(
      'pass --request-id <id> --label <label> (both), or --csv <file> with columns requestId,label',
    );
  }
  const base = options.url ?? process.env.MODELOPS_INFERENCE_URL ?? DEFAULT_INFERENCE_URL;
  const url = invokeUrl(base, model).replace(/\/invoke$/, '/feedback');
  const timeout = options.timeoutSeconds ?? 30;

  const rows: FeedbackRowResult[] = [];
  for (const l of labels) {
    if (l.requestId === '' || l.label === '') {
      const missing = l.requestId === '' ? 'requestId' : 'label';
      rows.push({
        row: l.row,
        requestId: l.requestId,
        status: 0,
        outcome: 'InvalidRow',
        message: `${missing} is empty`,
        ok: false,
      });
      continue;
    }
    const r = await post(url, JSON.stringify({ requestId: l.requestId, label: l.label }), timeout, base);
    const body = r.json as
      | {
          outcome?: string;
          error?: { code?: string; message?: string; details?: { path: string; message: string }[] };
        }
      | undefined;
    const ok = r.status === 200;
    const detail = body?.error?.details?.map((d) => `${d.path} ${d.message}`).join('; ');
    rows.push({
      row: l.row,
      requestId: l.requestId,
      status: r.status,
      outcome: ok ? (body?.outcome ?? 'recorded') : (body?.error?.code ?? `HTTP ${r.status}`),
      ...(ok ? {} : { message: detail ?? body?.error?.message ?? r.raw.slice(0, 200) }),
      ok,
    });
    if (r.status === 403 && !url.startsWith('http://127.0.0.1')) {
      io.err('(a Function URL with AWS_IAM auth needs a SigV4-signed request: see docs/inference.md)');
    }
  }

  for (const r of rows) {
    const line = `row ${r.row} ${r.requestId}: ${r.outcome}${r.status > 0 ? ` (${r.status})` : ''}${r.message ? ` ${r.message}` : ''}`;
    if (r.ok) io.out(line);
    else io.err(line);
  }
  const count = (outcome: string) => rows.filter((r) => r.ok && r.outcome === outcome).length;
  const failed = rows.filter((r) => !r.ok).length;
  io.out(
    `${rows.length} label(s): ${count('recorded')} recorded, ${count('duplicate')} duplicate, ${failed} failed`,
  );
  return { rows, exitCode: failed > 0 ? 1 : 0 };
}
