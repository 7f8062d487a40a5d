/**
 * The CloudWatch dashboard of one model: what an on-call engineer opens first. Service panels of the serving function
 * come from cdk-monitoring-constructs; model panels from `IModelEndpoint.metricX` and the drift and feedback metric
 * constants the handlers emit (lambdas/core/ports.ts), so a renamed metric breaks the build, not the dashboard.
 */
import { Duration } from 'aws-cdk-lib';
import {
  MathExpression,
  Metric,
  SingleValueWidget,
  Stats,
  type IMetric,
  type MetricOptions,
} from 'aws-cdk-lib/aws-cloudwatch';
import {
  DefaultDashboardFactory,
  MonitoringFacade,
  SingleWidgetDashboardSegment,
  type CustomMetricGroup,
} from 'cdk-monitoring-constructs';
import { Construct } from 'constructs';
import {
  DRIFT_METRICS,
  FEATURE_DIMENSION,
  FEEDBACK_METRICS,
  INFERENCE_METRICS,
  METRIC_DIMENSIONS,
  OUTPUT_DIMENSION,
} from '../../lambdas/core/ports';
import type { SloConfig } from '../config';
import type { IModelEndpoint } from './model-endpoint';

/**
 * Lambda list prices used for the cost estimate (x86_64, us-east-1, on-demand, published on aws.amazon.com/lambda/
 * pricing): USD per GB-second of duration and per request. Provisioned concurrency, data transfer and the metadata
 * reads are not included; the panel is an order of magnitude, not a bill.
 */
export const LAMBDA_PRICE = { perGbSecond: 0.0000166667, perRequest: 0.0000002 } as const;

export interface ModelDashboardProps {
  readonly endpoint: IModelEndpoint;
  /** CloudWatch namespace the handlers emit to. */
  readonly namespace: string;
  readonly slo: SloConfig;
  /** Memory of the serving function (MB), for the cost estimate. */
  readonly memoryMb: number;
  /** e.g. `modelops-dev`; the dashboard is `<prefix>-<model>`. */
  readonly dashboardNamePrefix: string;
}

export class ModelDashboard extends Construct {
  public readonly facade: MonitoringFacade;
  public readonly dashboardName: string;

  constructor(scope: Construct, id: string, props: ModelDashboardProps) {
    super(scope, id);
    const { endpoint, namespace, slo } = props;
    const model = endpoint.modelName;
    this.dashboardName = `${props.dashboardNamePrefix}-${model}`;
    this.facade = new MonitoringFacade(this, 'Monitoring', {
      dashboardFactory: new DefaultDashboardFactory(this, 'Dashboards', {
        dashboardNamePrefix: this.dashboardName,
        createDashboard: true,
        createSummaryDashboard: false,
        createAlarmDashboard: false,
      }),
    });

    const modelMetric = (name: string, statistic: string, options: MetricOptions = {}): Metric =>
      new Metric({
        namespace,
        metricName: name,
        dimensionsMap: { [METRIC_DIMENSIONS.model]: model },
        statistic,
        period: Duration.minutes(5),
        ...options,
      });
    // One line per feature or output of the model: a SEARCH, so new names appear without a deploy.
    const driftSearch = (dimension: string, metricName: string): MathExpression =>
      new MathExpression({
        expression:
          `SEARCH('{${namespace},${METRIC_DIMENSIONS.model},${dimension}} ` +
          `MetricName="${metricName}" ${METRIC_DIMENSIONS.model}="${model}"', 'Maximum', 600)`,
        label: '',
        period: Duration.minutes(10),
      });
    const requests = endpoint.metricRequests(undefined, { period: Duration.minutes(5) });
    const errors = endpoint.metricErrors(undefined, { period: Duration.minutes(5) });
    const slow = modelMetric(INFERENCE_METRICS.slowRequests, Stats.SUM);

    /** Burn rate over `window`: the bad ratio divided by the budget (1 − target). */
    // Each expression of one graph needs its own metric ids: `key` keeps them apart.
    const burnRate = (
      bad: IMetric,
      target: number,
      window: Duration,
      label: string,
      key: string,
    ): MathExpression =>
      new MathExpression({
        expression: `IF(r${key} > 0, (b${key} / r${key}) / ${round(1 - target)}, 0)`,
        usingMetrics: {
          [`b${key}`]: withPeriod(bad, window),
          [`r${key}`]: withPeriod(requests, window),
        },
        period: window,
        label,
      });

    const groups: CustomMetricGroup[] = [
      { title: 'Traffic (requests / 5 min)', metrics: [requests, endpoint.metricInvalidInput()] },
      {
        title: 'Latency (ms)',
        metrics: [50, 95, 99].map((p) =>
          endpoint.metricLatency(undefined, { statistic: `p${p}`, label: `p${p}` }),
        ),
      },
      {
        title: 'Errors, fallbacks, integrity refusals',
        metrics: [
          errors,
          modelMetric(INFERENCE_METRICS.fallbacks, Stats.SUM),
          modelMetric(INFERENCE_METRICS.integrityFailures, Stats.SUM),
        ],
      },
      {
        title: 'Error-budget burn rate (1 = budget spent exactly over the SLO period)',
        metrics: [
          burnRate(errors, slo.availability.target, Duration.hours(1), 'availability 1 h', 'a1'),
          burnRate(errors, slo.availability.target, Duration.hours(6), 'availability 6 h', 'a6'),
          burnRate(slow, slo.latency.target, Duration.hours(1), 'latency 1 h', 'l1'),
          burnRate(slow, slo.latency.target, Duration.hours(6), 'latency 6 h', 'l6'),
        ],
      },
      {
        title: 'Drift per feature (Jensen–Shannon distance)',
        metrics: [driftSearch(FEATURE_DIMENSION, DRIFT_METRICS.featureJsDistance)],
      },
      {
        title: 'Dataset drift share and insufficient windows',
        metrics: [
          modelMetric(DRIFT_METRICS.datasetDrift, Stats.MAXIMUM, { period: Duration.minutes(10) }),
          modelMetric(DRIFT_METRICS.insufficientData, Stats.MAXIMUM, { period: Duration.minutes(10) }),
        ],
      },
      {
        // Emitted per {Model, Output} only when the version has a prediction baseline.
        title: 'Prediction drift per output (Jensen–Shannon distance)',
        metrics: [driftSearch(OUTPUT_DIMENSION, DRIFT_METRICS.predictionDrift)],
      },
      {
        title: 'Accuracy, MAE and label lag (labelled predictions)',
        metrics: [
          modelMetric(FEEDBACK_METRICS.correct, Stats.AVERAGE, {
            period: Duration.hours(1),
            label: 'accuracy',
          }),
          modelMetric(FEEDBACK_METRICS.absoluteError, Stats.AVERAGE, {
            period: Duration.hours(1),
            label: 'MAE',
          }),
          modelMetric(FEEDBACK_METRICS.labelLag, Stats.p(50), {
            period: Duration.hours(1),
            label: 'label lag p50 (s)',
          }),
        ],
      },
      {
        title: 'Cold starts and provisioned concurrency',
        metrics: [
          modelMetric(INFERENCE_METRICS.coldStart, Stats.SUM),
          endpoint.alias.metric('ProvisionedConcurrencyUtilization', { statistic: Stats.MAXIMUM }),
          endpoint.alias.metric('ProvisionedConcurrencySpilloverInvocations', { statistic: Stats.SUM }),
        ],
      },
      {
        title: 'Estimated cost per 1k inferences (USD, Lambda list price)',
        metrics: [costPer1k(endpoint, props.memoryMb)],
      },
    ];

    this.facade
      .addLargeHeader(`Model ${model}`)
      .addSegment(
        new SingleWidgetDashboardSegment(
          new SingleValueWidget({
            title: `Error budget remaining over the dashboard's time range (set it to the SLO period, ${slo.periodDays} d)`,
            metrics: [
              budgetRemaining(errors, requests, slo.availability.target, 'availability'),
              budgetRemaining(slow, requests, slo.latency.target, 'latency'),
            ],
            setPeriodToTimeRange: true,
            width: 24,
          }),
        ),
      )
      .monitorCustom({ alarmFriendlyName: model, humanReadableName: `Model ${model}`, metricGroups: groups })
      .monitorLambdaFunction({
        lambdaFunction: endpoint.function.function,
        alarmFriendlyName: `${model}-serving`,
      });
  }
}

function round(value: number): string {
  return String(Number(value.toPrecision(12)));
}

function withPeriod(metric: IMetric, period: Duration): IMetric {
  return metric instanceof Metric ? metric.with({ period, statistic: Stats.SUM }) : metric;
}

function budgetRemaining(bad: IMetric, total: IMetric, target: number, label: string): MathExpression {
  const k = label.slice(0, 1);
  return new MathExpression({
    expression: `IF(r${k} > 0, 1 - (b${k} / r${k}) / ${round(1 - target)}, 1)`,
    usingMetrics: {
      [`b${k}`]: withPeriod(bad, Duration.days(1)),
      [`r${k}`]: withPeriod(total, Duration.days(1)),
    },
    label: `${label} budget remaining`,
  });
}

/** (duration GB-s × price + requests × price) ÷ requests × 1000, from the function's own AWS/Lambda metrics. */
function costPer1k(endpoint: IModelEndpoint, memoryMb: number): MathExpression {
  const gb = memoryMb / 1024;
  return new MathExpression({
    expression: `IF(n > 0, 1000 * ((d / 1000) * ${round(gb)} * ${LAMBDA_PRICE.perGbSecond} + n * ${LAMBDA_PRICE.perRequest}) / n, 0)`,
    usingMetrics: {
      d: endpoint.function.function.metricDuration({ statistic: Stats.SUM, period: Duration.hours(1) }),
      n: endpoint.function.function.metricInvocations({ statistic: Stats.SUM, period: Duration.hours(1) }),
    },
    period: Duration.hours(1),
    label: 'USD per 1k inferences',
  });
}
