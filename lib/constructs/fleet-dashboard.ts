/**
 * The fleet overview: every model's traffic and errors side by side, then the control plane's own services (release
 * functions, state machine, dead-letter queue, metadata tables) through cdk-monitoring-constructs.
 */
import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { DefaultDashboardFactory, MonitoringFacade } from 'cdk-monitoring-constructs';
import { Construct } from 'constructs';
import type { IModelEndpoint } from './model-endpoint';
import type { ModelOpsFunction } from './modelops-function';

export interface FleetDashboardProps {
  /** e.g. `modelops-dev`; the dashboard is `<prefix>-fleet`. */
  readonly dashboardNamePrefix: string;
  readonly endpoints: readonly IModelEndpoint[];
  /** Control-plane functions (release steps, drift monitor, …). */
  readonly functions: readonly ModelOpsFunction[];
  readonly stateMachines: readonly IStateMachine[];
  readonly deadLetterQueues: readonly IQueue[];
  readonly tables: readonly ITable[];
}

export class FleetDashboard extends Construct {
  public readonly facade: MonitoringFacade;
  public readonly dashboardName: string;

  constructor(scope: Construct, id: string, props: FleetDashboardProps) {
    super(scope, id);
    this.dashboardName = `${props.dashboardNamePrefix}-fleet`;
    this.facade = new MonitoringFacade(this, 'Monitoring', {
      dashboardFactory: new DefaultDashboardFactory(this, 'Dashboards', {
        dashboardNamePrefix: this.dashboardName,
        createDashboard: true,
        createSummaryDashboard: false,
        createAlarmDashboard: false,
      }),
    });
    const period = { period: Duration.minutes(5) };
    this.facade.addLargeHeader('Models').monitorCustom({
      alarmFriendlyName: 'fleet',
      humanReadableName: 'Models',
      metricGroups: [
        {
          title: 'Requests per model (5 min)',
          metrics: props.endpoints.map((e) => e.metricRequests(undefined, { ...period, label: e.modelName })),
        },
        {
          title: 'Errors per model (5 min)',
          metrics: props.endpoints.map((e) => e.metricErrors(undefined, { ...period, label: e.modelName })),
        },
        {
          title: 'p99 latency per model (ms)',
          metrics: props.endpoints.map((e) => e.metricLatency(undefined, { ...period, label: e.modelName })),
        },
      ],
    });
    this.facade.addLargeHeader('Control plane');
    for (const stateMachine of props.stateMachines) this.facade.monitorStepFunction({ stateMachine });
    for (const queue of props.deadLetterQueues) this.facade.monitorSqsQueue({ queue });
    for (const fn of props.functions) this.facade.monitorLambdaFunction({ lambdaFunction: fn.function });
    for (const table of props.tables) this.facade.monitorDynamoTable({ table });
  }
}
