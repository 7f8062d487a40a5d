/**
 * IModelEndpoint metrics on both serving constructs (bare stack, no bundling): the namespace, names and dimensions
 * the inference handler emits, the default statistics and period, overrides, and an alarm built on them.
 */
import { Duration } from 'aws-cdk-lib';
import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Alarm, Stats } from 'aws-cdk-lib/aws-cloudwatch';
import type { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ArtifactRegistry } from '../../lib/constructs/artifact-registry';
import { InferenceEndpoint } from '../../lib/constructs/inference-endpoint';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { ModelMetrics } from '../../lib/constructs/model-endpoint';
import type { IModelEndpoint } from '../../lib/constructs/model-endpoint';
import { INFERENCE_METRICS } from '../../lambdas/core/ports';
import { ConstructPropsError } from '../../lib/constructs/modelops-function';
import { SageMakerEndpoint } from '../../lib/constructs/sagemaker-endpoint';
import { testStack } from './helpers';

const NAMESPACE = 'Acme/ModelOps';

let stack: Stack;
let endpoints: Record<'lambda' | 'sagemaker', IModelEndpoint>;
beforeAll(() => {
  // GIVEN one endpoint of each kind in a bare stack
  stack = testStack('MetricsTest');
  const registry = new ArtifactRegistry(stack, 'Registry', {
    noncurrentVersionExpirationDays: 1,
    incomingExpirationDays: 1,
    accessLogDays: 1,
  });
  const tables = new MetadataTables(stack, 'Tables');
  const common = {
    registry,
    deployments: tables.deployments,
    modelVersions: tables.modelVersions,
    metricsNamespace: NAMESPACE,
    logRetention: RetentionDays.ONE_DAY,
  };
  endpoints = {
    lambda: new InferenceEndpoint(stack, 'OnnxEndpoint', { ...common, modelName: 'breast-cancer' }),
    sagemaker: new SageMakerEndpoint(stack, 'SageMakerEndpoint', {
      ...common,
      modelName: 'breast-cancer',
      image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgboost-inference:1.7-1',
      modelDataKey: 'models/breast-cancer/1.0.0/ab12.tar.gz',
      version: '1.0.0',
      variant: { kind: 'serverless', memorySizeInMb: 1024, maxConcurrency: 2 },
    }),
  };
});

/** What identifies and aggregates a metric, as CloudWatch sees it. */
function shape(metric: Metric): Record<string, unknown> {
  return {
    namespace: metric.namespace,
    metricName: metric.metricName,
    dimensions: metric.dimensions,
    statistic: metric.statistic,
    periodSeconds: metric.period.toSeconds(),
  };
}

describe.each(['lambda', 'sagemaker'] as const)('IModelEndpoint metrics (%s)', (kind) => {
  const endpoint = (): IModelEndpoint => endpoints[kind];

  it('exposes the model name and the entry point', () => {
    expect(endpoint().modelName).toBe('breast-cancer');
    expect(endpoint().alias.aliasName).toBe('live');
    expect(endpoint().url).toBe(endpoint().functionUrl.url);
  });

  it('reads the {Model} series without a version, as Sums per minute for the counts', () => {
    // WHEN
    const metrics = [
      endpoint().metricRequests(),
      endpoint().metricErrors(),
      endpoint().metricInvalidInput(),
      endpoint().metricSlowRequests(),
    ];
    // THEN
    expect(metrics.map(shape)).toEqual(
      ['Requests', 'Errors', 'InvalidInput', 'SlowRequests'].map((metricName) => ({
        namespace: NAMESPACE,
        metricName,
        dimensions: { Model: 'breast-cancer' },
        statistic: 'Sum',
        periodSeconds: 60,
      })),
    );
  });

  it('reads the {Model, Version} series with a version, latency as p99', () => {
    expect(shape(endpoint().metricLatency('1.1.0'))).toEqual({
      namespace: NAMESPACE,
      metricName: 'Latency',
      dimensions: { Model: 'breast-cancer', Version: '1.1.0' },
      statistic: 'p99',
      periodSeconds: 60,
    });
    expect(shape(endpoint().metricErrors('1.1.0'))).toEqual({
      namespace: NAMESPACE,
      metricName: 'Errors',
      dimensions: { Model: 'breast-cancer', Version: '1.1.0' },
      statistic: 'Sum',
      periodSeconds: 60,
    });
  });

  it('takes statistic, period and label from the options', () => {
    // WHEN the error rate over 5 minutes is asked for
    const rate = endpoint().metricErrors('1.1.0', {
      statistic: Stats.AVERAGE,
      period: Duration.minutes(5),
      label: 'error rate',
    });
    // THEN only the aggregation changes
    expect({ ...shape(rate), label: rate.label }).toEqual({
      namespace: NAMESPACE,
      metricName: 'Errors',
      dimensions: { Model: 'breast-cancer', Version: '1.1.0' },
      statistic: 'Average',
      periodSeconds: 300,
      label: 'error rate',
    });
    expect(endpoint().metricLatency(undefined, { statistic: Stats.p(50) }).statistic).toBe('p50');
  });

  it('rejects a malformed version and replaced dimensions, naming the value', () => {
    expect(() => endpoint().metricErrors('1.0 beta')).toThrow(ConstructPropsError);
    expect(() => endpoint().metricErrors('1.0 beta')).toThrow(/version must be a model version.*"1.0 beta"/);
    expect(() => endpoint().metricLatency(undefined, { dimensionsMap: { Model: 'other' } })).toThrow(
      /pass the version instead of dimensionsMap \(got \{"Model":"other"\}\)/,
    );
  });
});

describe('ModelMetrics', () => {
  it('builds any inference metric of the handler with the given default statistic', () => {
    const metrics = new ModelMetrics({ namespace: NAMESPACE, modelName: 'churn' });
    expect(shape(metrics.metric(INFERENCE_METRICS.coldStart, Stats.SUM, '2.0.0'))).toEqual({
      namespace: NAMESPACE,
      metricName: 'ColdStart',
      dimensions: { Model: 'churn', Version: '2.0.0' },
      statistic: 'Sum',
      periodSeconds: 60,
    });
  });
});

describe('IModelEndpoint metrics in a template', () => {
  it('emits to the namespace the function is configured with', () => {
    const template = Template.fromStack(stack);
    const namespaces = Object.values(template.findResources('AWS::Lambda::Function'))
      .map(
        (f) =>
          (f as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties
            .Environment?.Variables?.POWERTOOLS_METRICS_NAMESPACE,
      )
      .filter((n) => n !== undefined);
    expect(new Set(namespaces)).toEqual(new Set([NAMESPACE]));
  });

  it('synthesizes an alarm on metricErrors(version) with both dimensions', () => {
    // GIVEN a stack with an alarm on one version's errors
    const s = testStack('AlarmTest');
    const registry = new ArtifactRegistry(s, 'Registry', {
      noncurrentVersionExpirationDays: 1,
      incomingExpirationDays: 1,
      accessLogDays: 1,
    });
    const tables = new MetadataTables(s, 'Tables');
    const endpoint = new InferenceEndpoint(s, 'Endpoint', {
      modelName: 'credit-risk',
      registry,
      deployments: tables.deployments,
      modelVersions: tables.modelVersions,
      metricsNamespace: NAMESPACE,
      logRetention: RetentionDays.ONE_DAY,
    });
    // WHEN
    new Alarm(s, 'CandidateErrors', {
      metric: endpoint.metricErrors('1.0.0'),
      threshold: 5,
      evaluationPeriods: 3,
    });
    // THEN
    Template.fromStack(s).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: NAMESPACE,
      MetricName: 'Errors',
      Dimensions: [
        { Name: 'Model', Value: 'credit-risk' },
        { Name: 'Version', Value: '1.0.0' },
      ],
      Statistic: 'Sum',
      Period: 60,
      Threshold: 5,
      EvaluationPeriods: 3,
    });
  });
});
