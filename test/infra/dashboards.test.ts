/**
 * Dashboards: one per model and a fleet overview. The dashboard body is a CloudFormation join of text and tokens;
 * the assertions read its text parts, which carry every widget title, metric name and math expression.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DRIFT_METRICS, FEEDBACK_METRICS, INFERENCE_METRICS } from '../../lambdas/core/ports';
import { LAMBDA_PRICE } from '../../lib/constructs/model-dashboard';
import { synthApp, TEST_CONFIG } from './helpers';

const result = synthApp({
  ...TEST_CONFIG,
  models: [
    {
      name: 'breast-cancer',
      owner: 'ml-platform',
      memoryMb: 2048,
      slo: { availability: { target: 0.995 }, latency: { target: 0.98, thresholdMs: 100 } },
    },
    { name: 'credit-risk', owner: 'ml-platform' },
  ],
});
afterAll(() => result.cleanup());

function dashboardBodies(): Record<string, string> {
  const dashboards = result.template.findResources('AWS::CloudWatch::Dashboard');
  const bodies: Record<string, string> = {};
  for (const resource of Object.values(dashboards)) {
    const props = resource.Properties as { DashboardName: string; DashboardBody: unknown };
    bodies[props.DashboardName] = JSON.stringify(props.DashboardBody);
  }
  return bodies;
}

describe('dashboards', () => {
  it('creates one dashboard per model and one fleet overview, named after project and stage', () => {
    // THEN
    expect(Object.keys(dashboardBodies()).sort()).toEqual([
      'modelops-test-breast-cancer',
      'modelops-test-credit-risk',
      'modelops-test-fleet',
    ]);
  });

  it('shows traffic, latency percentiles, errors, burn rates, drift, feedback, cold starts, PC and cost per model', () => {
    // GIVEN
    const body = dashboardBodies()['modelops-test-breast-cancer']!;
    // THEN every model metric the handlers emit is on it
    for (const name of [
      INFERENCE_METRICS.requests,
      INFERENCE_METRICS.errors,
      INFERENCE_METRICS.invalidInput,
      INFERENCE_METRICS.latency,
      INFERENCE_METRICS.slowRequests,
      INFERENCE_METRICS.fallbacks,
      INFERENCE_METRICS.integrityFailures,
      INFERENCE_METRICS.coldStart,
      DRIFT_METRICS.datasetDrift,
      DRIFT_METRICS.predictionDrift,
      DRIFT_METRICS.featureJsDistance,
      FEEDBACK_METRICS.correct,
      FEEDBACK_METRICS.absoluteError,
      FEEDBACK_METRICS.labelLag,
      'ProvisionedConcurrencyUtilization',
      'ProvisionedConcurrencySpilloverInvocations',
    ]) {
      expect(body, name).toContain(`${name}`);
    }
    for (const p of ['p50', 'p95', 'p99']) {
      expect(body).toContain(
        `\\"Latency\\",\\"Model\\",\\"breast-cancer\\",{\\"label\\":\\"${p}\\",\\"period\\":60,\\"stat\\":\\"${p}\\"}`,
      );
    }
    // the burn rates divide by this model's budgets (1 - 0.995, 1 - 0.98), not the defaults
    expect(body).toContain('1 > 0, (ba1 / ra1) / 0.005');
    expect(body).toContain('1 > 0, (bl1 / rl1) / 0.02');
    expect(body).not.toContain(') / 0.001,');
    // drift per feature is a SEARCH over the Feature dimension of this model only
    expect(body).toContain(
      `MetricName=\\\\\\"${DRIFT_METRICS.featureJsDistance}\\\\\\" Model=\\\\\\"breast-cancer\\\\\\"`,
    );
    // prediction drift is a SEARCH over the Output dimension of this model only
    expect(body).toContain(
      `,Model,Output} MetricName=\\\\\\"${DRIFT_METRICS.predictionDrift}\\\\\\" Model=\\\\\\"breast-cancer\\\\\\"`,
    );
    expect(body).toContain('Prediction drift per output');
    // cost: 2048 MB = 2 GB at the documented prices
    expect(body).toContain(`* 2 * ${LAMBDA_PRICE.perGbSecond} + n * ${LAMBDA_PRICE.perRequest}`);
    expect(body).toContain('Error budget remaining');
  });

  it('uses the default SLO budgets for a model without an slo block', () => {
    const body = dashboardBodies()['modelops-test-credit-risk']!;
    expect(body).toContain('(ba6 / ra6) / 0.001,');
    expect(body).toContain('(bl6 / rl6) / 0.01,');
  });

  it('gives the fleet every model side by side and the control-plane services', () => {
    const body = dashboardBodies()['modelops-test-fleet']!;
    for (const title of ['Requests per model', 'Errors per model', 'p99 latency per model']) {
      expect(body).toContain(title);
    }
    expect(body).toContain('breast-cancer');
    expect(body).toContain('credit-risk');
    // service panels from cdk-monitoring-constructs: Step Functions, SQS, Lambda, DynamoDB
    for (const namespace of ['AWS/States', 'AWS/SQS', 'AWS/Lambda', 'AWS/DynamoDB']) {
      expect(body, namespace).toContain(namespace);
    }
  });
});
