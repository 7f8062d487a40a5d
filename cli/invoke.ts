/**
 * `modelops invoke <model> --file instances.json`: POSTs instances to an inference endpoint and prints the JSON
 * response. Targets the local server of `npm start` by default; any URL serving `POST /models/{name}/invoke` works.
 *
 * A deployed Function URL uses AWS_IAM auth and needs SigV4-signed requests, which this command does not sign; use
 * awscurl there (docs/inference.md, "Calling the Function URL").
 */
import { readFile } from 'node:fs/promises';
import { modelNameSchema } from '../lambdas/core/manifest';
import { CliError, UsageError, type CliIo } from './errors';

/** Mirrors DEFAULT_HTTP_PORT of local/inference-server.ts; a literal so the CLI does not load the server. */
export const DEFAULT_INFERENCE_URL = 'http://127.0.0.1:4570';

export interface InvokeOptions {
  /** JSON file: `{"instances": [...]}` (optionally with `routingKey`) or a bare array of instances. */
  readonly file: string;
  /** Overrides (or adds) the body's routingKey. */
  readonly routingKey?: string;
  /** Base URL of the endpoint. @default DEFAULT_INFERENCE_URL (env MODELOPS_INFERENCE_URL) */
  readonly url?: string;
  /** Seconds before giving up on the response. @default 30 */
  readonly timeoutSeconds?: number;
}

export interface InvokeResult {
  readonly status: number;
  /** The parsed response body, or its raw text when it is not JSON. */
  readonly body: unknown;
  /** 0 on a 2xx response, 1 otherwise. */
  readonly exitCode: 0 | 1;
}

/** `{"instances": [...]}` stays as is, a bare array becomes `{"instances": [...]}`; anything else is refused. */
export function requestBody(fileText: string, file: string, routingKey?: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fileText);
  } catch (err) {
    throw new UsageError(`--file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  let body: Record<string, unknown>;
  if (Array.isArray(parsed)) body = { instances: parsed };
  else if (typeof parsed === 'object' && parsed !== null && 'instances' in parsed) {
    body = { ...(parsed as Record<string, unknown>) };
  } else {
    throw new UsageError(
      `--file ${file} must hold {"instances": [{...features...}]} or a bare array of instances`,
    );
  }
  if (routingKey !== undefined) body.routingKey = routingKey;
  return JSON.stringify(body);
}

/** The endpoint URL for a model: `<base>/models/<model>/invoke`, base given with or without a trailing slash. */
export function invokeUrl(base: string, model: string): string {
  let url: URL;
  try {
    url = new URL(base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new UsageError(`--url "${base}" is not an http(s) URL; pass e.g. ${DEFAULT_INFERENCE_URL}`);
  }
  return `${base.replace(/\/+$/, '')}/models/${encodeURIComponent(model)}/invoke`;
}

export async function invoke(model: string, options: InvokeOptions, io: CliIo): Promise<InvokeResult> {
  if (!modelNameSchema.safeParse(model).success) {
    throw new UsageError(`<model> "${model}" is not a model name (a-z, 0-9, "-")`);
  }
  const base = options.url ?? process.env.MODELOPS_INFERENCE_URL ?? DEFAULT_INFERENCE_URL;
  const url = invokeUrl(base, model);
  let text: string;
  try {
    text = await readFile(options.file, 'utf8');
  } catch (err) {
    throw new UsageError(`--file ${options.file} cannot be read: ${(err as Error).message}`);
  }
  const body = requestBody(text, options.file, options.routingKey);

  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout((options.timeoutSeconds ?? 30) * 1000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new CliError(
      `POST ${url} failed: ${cause ?? (err as Error).message}` +
        (base === DEFAULT_INFERENCE_URL ? ' (is `npm start` running?)' : ''),
    );
  }
  const raw = await response.text();
  let parsed: unknown = raw;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // Not JSON (a proxy's error page, an auth failure): print it as is.
  }
  const ok = response.status >= 200 && response.status < 300;
  const printed = typeof parsed === 'string' ? parsed : JSON.stringify(parsed, null, 2);
  if (ok) io.out(printed);
  else {
    io.err(`HTTP ${response.status} from ${url}`);
    if (response.status === 403 && !url.startsWith('http://127.0.0.1')) {
      io.err('(a Function URL with AWS_IAM auth needs a SigV4-signed request: see docs/inference.md)');
    }
    io.out(printed);
  }
  return { status: response.status, body: parsed, exitCode: ok ? 0 : 1 };
}
