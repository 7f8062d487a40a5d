/**
 * The SageMaker backend of the inference app (the router function): the endpoint holds the models, one production
 * variant per version (`variantNameFor(version)`), and the router only validates, routes and measures.
 *
 * ## Container contract (what a model container behind the endpoint must speak)
 * Request: `POST` with `Content-Type: application/json`, `Accept: application/json`, body
 * `{"instances": [{"<feature>": value, ...}, ...]}` — the caller's instances, already validated against the
 * version's manifest (every required feature present, types and ranges checked, no unknown features).
 * Response: `200` with `application/json` body `{"outputs": {"<outputName>": [v0, v1, ...]}}` — for every output the
 * manifest declares, one entry per instance, in request order: for a `class` output the label string or its index
 * in `labels`; for a `probability` output an array of one probability per label, in `labels` order; for a
 * `regression` output a number. Extra outputs are ignored.
 *
 * ## Errors
 * Any failure of the endpoint (the container's own error — ModelError —, ValidationError e.g. for a variant the
 * endpoint does not have, throttling, timeouts) or an answer that does not fit the contract is a
 * {@link BackendError}: the app answers `502 BadGateway` with the endpoint's error name and message. Never 400:
 * the caller's input was valid.
 */
import {
  InvokeEndpointCommand,
  SageMakerRuntimeClient,
  type InvokeEndpointCommandOutput,
} from '@aws-sdk/client-sagemaker-runtime';
import type { Instance } from '../core/features';
import { variantNameFor } from '../core/keys';
import type { Manifest } from '../core/manifest';
import type { OutputValue } from '../core/model-runtime';
import { BackendError } from '../core/errors';
import type { BackendModel, InferenceBackend } from '../core/ports';

/** Created once per execution environment. */
const sageMakerRuntimeClient = new SageMakerRuntimeClient({});

/** What the backend needs from the SDK client; a stub in tests. */
export interface InvokeEndpointClient {
  send(command: InvokeEndpointCommand): Promise<Pick<InvokeEndpointCommandOutput, 'Body'>>;
}

export interface SageMakerBackendOptions {
  readonly endpointName: string;
  /** @default the module-scope SageMakerRuntimeClient */
  readonly client?: InvokeEndpointClient;
}

const utf8 = new TextDecoder();

/** Longest endpoint message passed on to the caller. */
const MAX_MESSAGE_CHARS = 1_000;

interface SdkError {
  readonly name?: string;
  readonly message?: string;
  readonly OriginalStatusCode?: number;
  readonly OriginalMessage?: string;
}

function describeEndpointError(err: unknown): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkError;
  const name = e.name ?? 'Error';
  const message = e.OriginalMessage ?? e.message ?? String(err);
  const status = e.OriginalStatusCode === undefined ? '' : ` (container status ${e.OriginalStatusCode})`;
  const text = `${name}${status}: ${message}`;
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

type Cell = number | string | boolean;

/** Converts `{"outputs": {...}}` into per-output tensors `[count, width]`; throws BackendError when it does not fit. */
export function parseEndpointOutputs(
  body: unknown,
  manifest: Pick<Manifest, 'outputs'>,
  count: number,
): Record<string, OutputValue> {
  const outputs = (body as { outputs?: unknown } | null)?.outputs;
  if (typeof outputs !== 'object' || outputs === null || Array.isArray(outputs)) {
    throw new BackendError('the endpoint answered without an "outputs" object (expected {"outputs": {...}})');
  }
  const result: Record<string, OutputValue> = {};
  for (const output of manifest.outputs) {
    const rows = (outputs as Record<string, unknown>)[output.name];
    if (!Array.isArray(rows) || rows.length !== count) {
      throw new BackendError(
        `the endpoint's output "${output.name}" must be an array of ${count} values (one per instance)`,
      );
    }
    const data: Cell[] = [];
    let width: number | undefined;
    for (const row of rows as unknown[]) {
      const cells = Array.isArray(row) ? (row as unknown[]) : [row];
      if (width !== undefined && cells.length !== width) {
        throw new BackendError(`the endpoint's output "${output.name}" has rows of different lengths`);
      }
      width = cells.length;
      for (const cell of cells) {
        if (typeof cell !== 'number' && typeof cell !== 'string' && typeof cell !== 'boolean') {
          throw new BackendError(
            `the endpoint's output "${output.name}" holds a value that is not a number or string`,
          );
        }
        data.push(cell);
      }
    }
    result[output.name] = { elementType: output.elementType, dims: [count, width ?? 0], data };
  }
  return result;
}

/** InvokeEndpoint with TargetVariant = `variantNameFor(version)`. */
export function createSageMakerBackend(options: SageMakerBackendOptions): InferenceBackend {
  const client: InvokeEndpointClient = options.client ?? sageMakerRuntimeClient;
  const endpointName = options.endpointName;
  return {
    kind: 'remote',
    async load(version, manifest): Promise<BackendModel> {
      const variant = variantNameFor(version);
      return {
        async predict(instances: readonly Instance[]) {
          let response: Pick<InvokeEndpointCommandOutput, 'Body'>;
          try {
            response = await client.send(
              new InvokeEndpointCommand({
                EndpointName: endpointName,
                TargetVariant: variant,
                ContentType: 'application/json',
                Accept: 'application/json',
                Body: JSON.stringify({ instances }),
              }),
            );
          } catch (err) {
            throw new BackendError(
              `SageMaker endpoint "${endpointName}" variant "${variant}" failed: ${describeEndpointError(err)}`,
              { cause: err },
            );
          }
          let body: unknown;
          try {
            body = JSON.parse(utf8.decode(response.Body));
          } catch {
            throw new BackendError(
              `SageMaker endpoint "${endpointName}" variant "${variant}" answered something that is not JSON`,
            );
          }
          return parseEndpointOutputs(body, manifest, instances.length);
        },
      };
    },
  };
}
