import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IGrantable, Grant } from 'aws-cdk-lib/aws-iam';
import type { ScalableTarget } from 'aws-cdk-lib/aws-applicationautoscaling';
import type { Metric, MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import type { Alias, FunctionUrl } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { INFERENCE_ENV } from '../../lambdas/shared/env';
import { FunctionEntryPoint } from './function-entry-point';
import type { ServingFunctionOptions } from './function-entry-point';
import { ModelMetrics } from './model-endpoint';
import type { IModelEndpoint } from './model-endpoint';
import { handlerEntry } from './modelops-function';
import type { ModelOpsFunction } from './modelops-function';

export interface InferenceEndpointProps extends ServingFunctionOptions {
  /**
   * The PredictionLog table (`MetadataTables.tables['PredictionLog']`): with it the function logs sampled predictions
   * and answers `POST /models/<name>/feedback` (GetItem + conditional PutItem, no other access).
   * @default - feedback off: no table access, feedback posts are answered 404 FeedbackNotEnabled
   */
  readonly predictionLog?: ITable;
  /**
   * The model's `feedback` config (sample rate, TTL days); used only with `predictionLog`.
   * @default - sampleRate 0 (nothing logged; labels for predictions logged earlier still join), ttlDays 30
   */
  readonly feedback?: { readonly sampleRate: number; readonly ttlDays: number };
  /**
   * The DriftCounters table (`MetadataTables.tables['DriftCounters']`): with it the function counts each served
   * instance into its version's baseline bins and adds them to the table every `driftFlushSeconds` (UpdateItem only).
   * @default - drift counting off (no hook, no table access)
   */
  readonly driftCounters?: ITable;
  /** `drift.flushSeconds` of the model; used only with `driftCounters`. @default 10 */
  readonly driftFlushSeconds?: number;
}

/**
 * Serving for a model with target `lambda`: ONNX Runtime in the function (the stack's linux/x86_64-only layer), the
 * alias `live` with provisioned concurrency and target-tracking scaling when configured, and a Function URL with
 * AWS_IAM auth. The function reads only the Deployments table, ModelVersions records (GetItem) and `models/*`; with
 * capture on it may also write `capture/<model>/`.
 *
 * Callers sign requests with SigV4 for service `lambda`, e.g.
 * `awscurl --service lambda --region <region> -X POST -H 'content-type: application/json' -d @req.json
 * <InvokeUrl>models/<name>/invoke`.
 */
export class InferenceEndpoint extends Construct implements IModelEndpoint {
  public readonly modelName: string;
  public readonly function: ModelOpsFunction;
  public readonly alias: Alias;
  public readonly functionUrl: FunctionUrl;
  /** Only when `provisionedConcurrency.max` > 0. */
  public readonly scalableTarget?: ScalableTarget;
  private readonly entryPoint: FunctionEntryPoint;
  private readonly metrics: ModelMetrics;

  constructor(scope: Construct, id: string, props: InferenceEndpointProps) {
    super(scope, id);
    this.modelName = props.modelName;
    this.entryPoint = new FunctionEntryPoint(this, 'Inference', {
      ...props,
      entry: handlerEntry('inference'),
      serviceName: 'inference',
      description: `Serves ${props.modelName} with ONNX Runtime (POST /models/${props.modelName}/invoke)`,
      onnxRuntime: true,
    });
    this.function = this.entryPoint.function;
    this.alias = this.entryPoint.alias;
    this.functionUrl = this.entryPoint.functionUrl;
    this.scalableTarget = this.entryPoint.scalableTarget;
    this.metrics = new ModelMetrics({ namespace: props.metricsNamespace, modelName: props.modelName });
    if (props.predictionLog !== undefined) {
      // 'write' is GetItem + PutItem: the hook puts, the feedback route reads and records labels conditionally.
      this.function
        .bindTable(props.predictionLog, 'write')
        .addEnvironment(INFERENCE_ENV.feedbackSampleRate, String(props.feedback?.sampleRate ?? 0))
        .addEnvironment(INFERENCE_ENV.feedbackTtlDays, String(props.feedback?.ttlDays ?? 30));
    }
    if (props.driftCounters !== undefined) {
      this.function
        .bindTable(props.driftCounters, 'count')
        .addEnvironment(INFERENCE_ENV.driftFlushSeconds, String(props.driftFlushSeconds ?? 10));
    }
  }

  get warmEnvironments(): number {
    return Math.max(1, this.entryPoint.provisionedConcurrencyMin);
  }

  /** The HTTPS URL of the entry point (ends in `/`); requests go to `<url>models/<name>/invoke`. */
  get url(): string {
    return this.functionUrl.url;
  }

  /** Lets `grantee` call the Function URL (alias `live` only). */
  grantInvoke(grantee: IGrantable): Grant {
    return this.entryPoint.grantInvoke(grantee);
  }

  metricRequests(version?: string, props?: MetricOptions): Metric {
    return this.metrics.requests(version, props);
  }

  metricErrors(version?: string, props?: MetricOptions): Metric {
    return this.metrics.errors(version, props);
  }

  metricInvalidInput(version?: string, props?: MetricOptions): Metric {
    return this.metrics.invalidInput(version, props);
  }

  metricLatency(version?: string, props?: MetricOptions): Metric {
    return this.metrics.latency(version, props);
  }

  metricSlowRequests(version?: string, props?: MetricOptions): Metric {
    return this.metrics.slowRequests(version, props);
  }
}
