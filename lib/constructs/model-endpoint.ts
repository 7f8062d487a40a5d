import { Duration, Token } from 'aws-cdk-lib';
import { Metric, Stats } from 'aws-cdk-lib/aws-cloudwatch';
import type { MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import type { ScalableTarget } from 'aws-cdk-lib/aws-applicationautoscaling';
import type { Grant, IGrantable } from 'aws-cdk-lib/aws-iam';
import type { Alias, FunctionUrl } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { VERSION_PATTERN } from '../../lambdas/core/names';
import { INFERENCE_METRICS, METRIC_DIMENSIONS } from '../../lambdas/core/ports';
import type { InferenceMetricName } from '../../lambdas/core/ports';
import { ConstructPropsError } from './modelops-function';
import type { ModelOpsFunction } from './modelops-function';

/**
 * A model's serving endpoint, whatever runs the model: `InferenceEndpoint` (ONNX Runtime in Lambda) or
 * `SageMakerEndpoint` (a router function in front of SageMaker). Both run the same inference app, so they share the
 * entry point shape and emit the same metrics.
 *
 * The `metric*` methods read what the inference handler emits (names and dimensions from `lambdas/core/ports.ts`)
 * in the stack's metrics namespace: without `version` the model's `{Model}` series, with it the
 * `{Model, Version}` series of that version. `props` override the default statistic and period (and set label,
 * color, unit, …); the dimensions are always the handler's, so `props.dimensionsMap` is refused.
 *
 * @example
 * new Alarm(this, 'CandidateErrors', {
 *   metric: endpoint.metricErrors('1.1.0', { statistic: Stats.AVERAGE }), // error rate of one version
 *   threshold: 0.01,
 *   evaluationPeriods: 5,
 * });
 */
export interface IModelEndpoint extends IConstruct {
  /** The model this endpoint serves. */
  readonly modelName: string;
  /** The HTTPS URL of the entry point (ends in `/`); requests go to `<url>models/<name>/invoke`. */
  readonly url: string;
  /** The serving function (ONNX Runtime in process, or the SageMaker router). */
  readonly function: ModelOpsFunction;
  /** The alias `live`: provisioned concurrency and the Function URL live on it. */
  readonly alias: Alias;
  /** HTTPS entry point with AWS_IAM auth. */
  readonly functionUrl: FunctionUrl;
  /** Scaling target of the alias' provisioned concurrency; only when `provisionedConcurrency.max` > 0. */
  readonly scalableTarget?: ScalableTarget;
  /**
   * Execution environments DeployCandidate warms with overlapping invocations: provisioned concurrency's minimum,
   * at least 1 (an environment serves one invocation at a time, so n overlapping invocations reach n environments).
   */
  readonly warmEnvironments: number;
  /** Lets `grantee` call the Function URL (alias `live` only). */
  grantInvoke(grantee: IGrantable): Grant;
  /**
   * Requests that reached a served model (1 per request).
   * @default statistic Sum, period 1 minute
   */
  metricRequests(version?: string, props?: MetricOptions): Metric;
  /**
   * Requests the service failed (5xx) and integrity refusals; 0 or 1 per request, so Sum is a count and Average
   * the error rate.
   * @default statistic Sum, period 1 minute
   */
  metricErrors(version?: string, props?: MetricOptions): Metric;
  /**
   * Requests refused for the caller's input (400, 413); 0 or 1 per request (Average: the invalid-input rate).
   * @default statistic Sum, period 1 minute
   */
  metricInvalidInput(version?: string, props?: MetricOptions): Metric;
  /**
   * Milliseconds from a request's arrival to its response (high resolution).
   * @default statistic p99, period 1 minute
   */
  metricLatency(version?: string, props?: MetricOptions): Metric;
  /**
   * 0/1 per answered request: 1 when slower than the model's latency SLO threshold (bad count of the latency SLI).
   * @default statistic Sum, period 1 minute
   */
  metricSlowRequests(version?: string, props?: MetricOptions): Metric;
}

export interface ModelMetricsProps {
  /** CloudWatch namespace the handler emits to (`metricsNamespace` of the serving function). */
  readonly namespace: string;
  readonly modelName: string;
}

/** Default period of the model metrics: the handler emits per request, and canary bakes are a few minutes long. */
export const MODEL_METRIC_PERIOD = Duration.minutes(1);

/**
 * The metrics of one model's inference path, as `IModelEndpoint` exposes them. Both endpoint constructs delegate to
 * it, so there is one definition of the namespace, names, dimensions and default statistics.
 */
export class ModelMetrics {
  constructor(private readonly model: ModelMetricsProps) {}

  /** @see IModelEndpoint.metricRequests */
  requests(version?: string, props?: MetricOptions): Metric {
    return this.metric(INFERENCE_METRICS.requests, Stats.SUM, version, props);
  }

  /** @see IModelEndpoint.metricErrors */
  errors(version?: string, props?: MetricOptions): Metric {
    return this.metric(INFERENCE_METRICS.errors, Stats.SUM, version, props);
  }

  /** @see IModelEndpoint.metricInvalidInput */
  invalidInput(version?: string, props?: MetricOptions): Metric {
    return this.metric(INFERENCE_METRICS.invalidInput, Stats.SUM, version, props);
  }

  /** @see IModelEndpoint.metricLatency */
  latency(version?: string, props?: MetricOptions): Metric {
    return this.metric(INFERENCE_METRICS.latency, Stats.p(99), version, props);
  }

  /** @see IModelEndpoint.metricSlowRequests */
  slowRequests(version?: string, props?: MetricOptions): Metric {
    return this.metric(INFERENCE_METRICS.slowRequests, Stats.SUM, version, props);
  }

  /**
   * Any metric of the inference path, e.g. `metric(INFERENCE_METRICS.coldStart, Stats.SUM)`; the series of
   * `{Model}`, or of `{Model, Version}` when `version` is given.
   */
  metric(
    metricName: InferenceMetricName,
    statistic: string,
    version?: string,
    props: MetricOptions = {},
  ): Metric {
    if (version !== undefined && !Token.isUnresolved(version) && !VERSION_PATTERN.test(version)) {
      throw new ConstructPropsError(
        `ModelMetrics: version must be a model version (A-Z, a-z, 0-9, ".", "_", "-"), got ${JSON.stringify(version)}`,
      );
    }
    if (props.dimensionsMap !== undefined) {
      throw new ConstructPropsError(
        `ModelMetrics: ${metricName} is emitted per {${METRIC_DIMENSIONS.model}} and ` +
          `{${METRIC_DIMENSIONS.model}, ${METRIC_DIMENSIONS.version}} only; pass the version instead of dimensionsMap ` +
          `(got ${JSON.stringify(props.dimensionsMap)})`,
      );
    }
    const dimensionsMap: Record<string, string> = { [METRIC_DIMENSIONS.model]: this.model.modelName };
    if (version !== undefined) dimensionsMap[METRIC_DIMENSIONS.version] = version;
    return new Metric({
      ...props,
      namespace: this.model.namespace,
      metricName,
      dimensionsMap,
      statistic: props.statistic ?? statistic,
      period: props.period ?? MODEL_METRIC_PERIOD,
    });
  }
}
