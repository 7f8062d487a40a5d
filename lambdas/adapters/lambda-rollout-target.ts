/**
 * The Lambda deploy target of the release state machine. A Lambda-served model has no capacity to create: every
 * version runs in the model's one inference function. "Deployed" therefore means the serving path has shown it can
 * serve the candidate: DeployCandidate invokes the function's alias `live` directly (RequestResponse) with a warm-up
 * event (lambdas/core/candidate-warm.ts), the function loads the candidate through its real version loader (ledger,
 * manifest and artifact hashes, signature, ONNX Runtime session) and runs the manifest's smoke samples through its
 * real validator, model and formatter, and answers per sample. Any failure is TargetDeployFailedError with a reason
 * code (CANDIDATE_LOAD_FAILED, SMOKE_FAILED, …), so the rollout is rolled back before the candidate sees traffic.
 *
 * An execution environment serves one invocation at a time, so DeployCandidate sends `warmConcurrency` overlapping
 * invocations (provisioned concurrency's minimum, from ROLLOUT_TARGETS) and so warms that many environments: the
 * candidate's first canary requests then do not pay a cold load (which the p99 guard would count against it).
 * Environments started later load the candidate in their own init warm-up (the routing record names it from
 * StartRollout on) or on the first request routed to it, and stable covers a failed load there (the fallback rule).
 *
 * Locally the inference app runs inside the local inference server, so the warm-up is POSTed to it
 * (`POST /candidates/warm`, guarded like every local route) instead of invoked; the app code that answers is the same.
 * `retire` has nothing to remove and is a no-op.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  LAMBDA_TARGET_FAILURE,
  warmCandidateEvent,
  warmProgress,
  type WarmCandidateRequest,
} from '../core/candidate-warm';
import { TransientStoreError } from '../core/errors';
import {
  TargetBusyError,
  TargetDeployFailedError,
  type RolloutTarget,
  type RolloutTargetRequest,
  type TargetProgress,
} from '../core/rollout-target';
import { mapStoreError } from './clients';

/** Delivers a warm-up to the serving function and returns its answer (judged by `warmProgress`). */
export interface CandidateWarmer {
  /**
   * Throws TargetDeployFailedError when the function failed while warming, TransientStoreError or TargetBusyError
   * when it could not be reached (retried by the ASL).
   */
  warm(request: WarmCandidateRequest): Promise<unknown>;
}

/** The part of an Invoke answer the warmer reads (the SDK's InvokeCommandOutput is assignable to it). */
export interface InvokeAnswer {
  readonly StatusCode?: number | undefined;
  readonly FunctionError?: string | undefined;
  readonly Payload?: Uint8Array | undefined;
}

/** What the warmer needs of the Lambda client; a recorded-response fake in tests. */
export interface LambdaInvokeClient {
  send(command: InvokeCommand): Promise<InvokeAnswer>;
}

let defaultClient: LambdaClient | undefined;

/** Created on first use, once per execution environment (the SageMaker target never loads it). */
function lambdaClient(): LambdaClient {
  defaultClient ??= new LambdaClient({});
  return defaultClient;
}

function errorShape(err: unknown): { readonly name?: string; readonly message?: string } {
  return typeof err === 'object' && err !== null ? (err as { name?: string; message?: string }) : {};
}

const clip = (text: string, max = 500): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Invokes the inference function's alias `live` with the warm-up event. */
export class LambdaInvokeWarmer implements CandidateWarmer {
  private readonly functionArn: string;
  private readonly client: LambdaInvokeClient;

  constructor(options: {
    /** The alias ARN (`…:function:<name>:live`): the grant names exactly it. */
    readonly functionArn: string;
    /** @default a LambdaClient created once per execution environment */
    readonly client?: LambdaInvokeClient;
  }) {
    this.functionArn = options.functionArn;
    this.client = options.client ?? lambdaClient();
  }

  async warm(request: WarmCandidateRequest): Promise<unknown> {
    const arn = this.functionArn;
    let out: InvokeAnswer;
    try {
      out = await this.client.send(
        new InvokeCommand({
          FunctionName: arn,
          InvocationType: 'RequestResponse',
          Payload: new TextEncoder().encode(JSON.stringify(warmCandidateEvent(request))),
        }),
      );
    } catch (err) {
      const e = errorShape(err);
      if (e.name === 'ResourceNotFoundException') {
        throw new TargetDeployFailedError(
          LAMBDA_TARGET_FAILURE.notConfigured,
          `the inference function ${arn} does not exist; deploy the stack (cdk deploy) before rolling out`,
          { functionArn: arn },
          { cause: err },
        );
      }
      if (e.name === 'ResourceConflictException' || e.name === 'ResourceNotReadyException') {
        throw new TargetBusyError(
          `the inference function ${arn} is being updated (${e.name}: ${e.message ?? ''}); retry once it is Active`,
          { cause: err },
        );
      }
      throw mapStoreError(err, `Invoke ${arn}`);
    }
    const text = out.Payload === undefined ? '' : new TextDecoder().decode(out.Payload);
    let answer: unknown = text;
    try {
      answer = JSON.parse(text);
    } catch {
      // Not JSON: judged (and refused) as it is.
    }
    if (out.FunctionError !== undefined) {
      const doc = (typeof answer === 'object' && answer !== null ? answer : {}) as {
        errorType?: unknown;
        errorMessage?: unknown;
      };
      throw new TargetDeployFailedError(
        LAMBDA_TARGET_FAILURE.crashed,
        `the inference function ${arn} failed while warming ${request.model} ${request.version} ` +
          `(${out.FunctionError}): ${String(doc.errorType ?? 'Error')}: ${clip(String(doc.errorMessage ?? text))}`,
        { functionArn: arn, functionError: out.FunctionError },
      );
    }
    return answer;
  }
}

/** Mirrors WARM_CANDIDATE_PATH of local/inference-server.ts; a literal so the handler does not load the server. */
export const LOCAL_WARM_CANDIDATE_PATH = '/candidates/warm';

/** POSTs the warm-up event to the local inference server (local mode). */
export class HttpCandidateWarmer implements CandidateWarmer {
  private readonly url: string;
  private readonly fetch: typeof globalThis.fetch;
  private readonly timeoutMs: number;

  constructor(options: {
    /** Base URL of the local inference server, e.g. http://127.0.0.1:4570. */
    readonly baseUrl: string;
    /** @default globalThis.fetch */
    readonly fetch?: typeof globalThis.fetch;
    /** @default 120 */
    readonly timeoutSeconds?: number;
  }) {
    this.url = `${options.baseUrl.replace(/\/+$/, '')}${LOCAL_WARM_CANDIDATE_PATH}`;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.timeoutMs = (options.timeoutSeconds ?? 120) * 1000;
  }

  async warm(request: WarmCandidateRequest): Promise<unknown> {
    let response: Response;
    try {
      response = await this.fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(warmCandidateEvent(request)),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new TransientStoreError(
        `warming ${request.model} ${request.version} at ${this.url} failed: ${(err as Error).message} ` +
          '(is the local inference server running?)',
        { cause: err },
      );
    }
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Judged as it is.
    }
    if (response.status !== 200) {
      const message =
        (body as { error?: { message?: unknown } } | undefined)?.error?.message ?? clip(text, 300);
      throw new TargetDeployFailedError(
        response.status >= 500 ? LAMBDA_TARGET_FAILURE.crashed : LAMBDA_TARGET_FAILURE.refused,
        `the local inference server answered the warm-up of ${request.model} ${request.version} with ` +
          `${response.status}: ${String(message)}`,
        { url: this.url, status: response.status },
      );
    }
    return body;
  }
}

/**
 * Sends `concurrency` overlapping warm-ups of one version to its serving function (the ONNX inference function, or
 * the SageMaker router); `ready` once every environment loaded it and matched every smoke sample, else
 * TargetDeployFailedError. Every answer is judged, so one refusal is never masked by the others.
 */
export async function warmInServingFunction(
  warmer: CandidateWarmer,
  concurrency: number,
  request: WarmCandidateRequest,
): Promise<TargetProgress> {
  const answers = await Promise.all(Array.from({ length: concurrency }, () => warmer.warm(request)));
  const progress = answers.map((answer) => warmProgress(request, answer));
  const first = progress[0]!;
  if (concurrency === 1) return first;
  const notReady = progress.find((p) => p.status !== 'ready');
  return notReady ?? { ...first, detail: { ...first.detail, environmentsWarmed: concurrency } };
}

export class LambdaRolloutTarget implements RolloutTarget {
  /** @param concurrency overlapping warm-ups, one per environment to warm (1: the environment that answers). */
  constructor(
    private readonly warmer: CandidateWarmer,
    private readonly concurrency = 1,
  ) {}

  /** Warms the candidate in `concurrency` environments at once (see {@link warmInServingFunction}). */
  deployCandidate(req: RolloutTargetRequest): Promise<TargetProgress> {
    return warmInServingFunction(this.warmer, this.concurrency, { model: req.model, version: req.candidate });
  }

  /** `deployCandidate` never answers pending; a poll warms (idempotently) again. */
  pollCandidate(req: RolloutTargetRequest): Promise<TargetProgress> {
    return this.deployCandidate(req);
  }

  /** Nothing to remove: every version runs in the one function, and routing already sends the loser nothing. */
  async retire(req: RolloutTargetRequest & { readonly keep: string }): Promise<TargetProgress> {
    return {
      status: 'ready',
      detail: {
        action: 'noop',
        keep: req.keep,
        reason:
          'a Lambda-served model has no per-version capacity; the routing record no longer names the loser',
      },
    };
  }
}
