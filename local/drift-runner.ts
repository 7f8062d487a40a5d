/**
 * Local mode's scheduled drift monitor: the same `runDriftMonitor` the deployed function runs on its EventBridge
 * schedule, here on an interval over the emulated tables and registry. Its metrics go into the local metric store (so
 * the drift alarm rule and `modelops status` read them as they read CloudWatch), and `ModelDriftDetected` goes to
 * the local event bus, where the retraining pipeline and tests subscribe.
 */
import { createDocumentClient } from '../lambdas/adapters/clients';
import { DynamoAuditLog } from '../lambdas/adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../lambdas/adapters/dynamo-deployment-store';
import { DynamoDriftCounterStore } from '../lambdas/adapters/dynamo-drift-counters';
import { DynamoMonitorStateStore } from '../lambdas/adapters/dynamo-monitor-state';
import { DynamoVersionStore } from '../lambdas/adapters/dynamo-version-store';
import { S3RegistryStore } from '../lambdas/adapters/s3-registry-store';
import {
  DRIFT_MONITOR_ACTOR,
  emitMonitorMetrics,
  runDriftMonitor,
  type DriftRunDeps,
  type MonitorOutcome,
} from '../lambdas/core/drift-monitor';
import { runErrorMetrics } from '../lambdas/core/drift-schedule';
import type { MetricsSink } from '../lambdas/core/ports';
import {
  AUDIT_LOG_TABLE,
  DEPLOYMENTS_TABLE,
  DRIFT_COUNTERS_TABLE,
  MODEL_VERSIONS_TABLE,
  MONITOR_STATE_TABLE,
} from '../lambdas/core/tables';
import type { ModelOpsConfig } from '../lib/config';
import { emulatorClients } from './emulators';
import { LocalEventBus } from './event-bus';
import type { LocalLogger } from './logger';
import type { LocalService } from './start';

export const DRIFT_SERVICE_NAME = 'drift-monitor';

export class DriftRunner {
  constructor(
    private readonly config: ModelOpsConfig,
    private readonly deps: DriftRunDeps,
    private readonly metrics: MetricsSink,
    private readonly logger: Pick<LocalLogger, 'info' | 'warn'>,
  ) {}

  /** One monitor run over every model at `nowMs`, as one scheduled invocation of the deployed function. */
  async tick(nowMs: number): Promise<MonitorOutcome[]> {
    const models = this.config.models.map((m) => ({ name: m.name, drift: m.drift }));
    const failed = new Set<string>();
    const outcomes = await runDriftMonitor(this.deps, {
      models,
      nowMs,
      actor: DRIFT_MONITOR_ACTOR,
      log: (message, fields) => {
        // Called only for a model whose run threw, as in the deployed handler.
        if (typeof fields.model === 'string') failed.add(fields.model);
        this.logger.warn(`${message}: ${JSON.stringify(fields)}`);
      },
    });
    // The same DriftMonitorErrors series the deployed function emits, so the drift-monitor-errors rule sees it.
    for (const group of runErrorMetrics(models, failed)) this.metrics.emit([group.dimensions], group.data);
    for (const outcome of outcomes) {
      if (outcome.kind !== 'judged') continue;
      emitMonitorMetrics(this.metrics, outcome.metrics);
      if (outcome.event !== undefined) {
        const features = (outcome.event.detail.driftedFeatures as readonly string[]).join(', ');
        this.logger.warn(`drift: ${outcome.model} ${outcome.version} entered ALARM (drifted: ${features})`);
      } else if (outcome.transition === 'cleared') {
        this.logger.info(`drift: ${outcome.model} ${outcome.version} cleared`);
      }
    }
    return outcomes;
  }
}

export interface DriftServiceOptions {
  /** Where the monitor's metrics go: the metric store the alarms and `POST /metrics/read` read. */
  readonly metrics: MetricsSink;
  /** Receives `ModelDriftDetected`. @default a new bus */
  readonly bus?: LocalEventBus;
  /** @default config `monitoring.driftScheduleMinutes`, as the deployed schedule */
  readonly intervalMs?: number;
  /** Receives the runner once it exists (tests drive `tick` with their own clock). */
  readonly onRunner?: (runner: DriftRunner) => void;
}

/** The drift runner as a `LocalService`: one run per interval until local mode stops. */
export function driftService(options: DriftServiceOptions): LocalService {
  return {
    name: DRIFT_SERVICE_NAME,
    async start(context) {
      const { emulators, runtime } = context;
      const { s3, dynamodb } = emulatorClients(emulators);
      const doc = createDocumentClient(dynamodb);
      const table = (def: { readonly envVar: string }) => emulators.tables[def.envVar]!;
      const runner = new DriftRunner(
        runtime.config,
        {
          deployments: new DynamoDeploymentStore(table(DEPLOYMENTS_TABLE), doc),
          versions: new DynamoVersionStore(table(MODEL_VERSIONS_TABLE), doc),
          registry: new S3RegistryStore(emulators.bucket, s3),
          counters: new DynamoDriftCounterStore(doc, table(DRIFT_COUNTERS_TABLE)),
          monitorState: new DynamoMonitorStateStore(table(MONITOR_STATE_TABLE), doc),
          events: options.bus ?? new LocalEventBus(),
          audit: new DynamoAuditLog(table(AUDIT_LOG_TABLE), doc),
        },
        options.metrics,
        context.logger,
      );
      options.onRunner?.(runner);
      let running: Promise<unknown> = Promise.resolve();
      const intervalMs = options.intervalMs ?? runtime.config.monitoring.driftScheduleMinutes * 60_000;
      const timer = setInterval(() => {
        // One run at a time, like a schedule whose target is still busy: runs never overlap.
        running = running.then(() => runner.tick(Date.now())).catch(() => undefined);
      }, intervalMs);
      timer.unref();
      return {
        summary: `every ${intervalMs / 60_000} min (monitoring.driftScheduleMinutes)`,
        stop: async () => {
          clearInterval(timer);
          await running;
          s3.destroy();
          dynamodb.destroy();
        },
      };
    },
  };
}
