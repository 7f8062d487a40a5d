/**
 * DriftMonitor: one run of the scheduled drift monitor (EventBridge rule every `monitoring.driftScheduleMinutes`,
 * lib/constructs/drift-monitor.ts) over every model in DRIFT_MODELS; see core/drift-monitor.ts and docs/drift.md.
 *
 * The invocation succeeds even when a model's run fails: runDriftMonitor isolates models, and a failed model is
 * logged and counted (`DriftMonitorErrors` = 1 per {Model}). Throwing would make Lambda retry the whole run, which
 * would step the other models' states a second time.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context } from 'aws-lambda';
import { dynamoDocumentClient } from '../adapters/clients';
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../adapters/dynamo-deployment-store';
import { DynamoDriftCounterStore } from '../adapters/dynamo-drift-counters';
import { DynamoMonitorStateStore } from '../adapters/dynamo-monitor-state';
import { DynamoVersionStore } from '../adapters/dynamo-version-store';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher';
import { PowertoolsMetricsSink } from '../adapters/powertools-metrics-sink';
import { S3RegistryStore } from '../adapters/s3-registry-store';
import {
  DRIFT_MONITOR_ACTOR,
  emitMonitorMetrics,
  runDriftMonitor,
  type DriftRunDeps,
  type MonitorOutcome,
} from '../core/drift-monitor';
import {
  DRIFT_MODELS_ENV,
  outcomeLogEntry,
  parseDriftModels,
  runErrorMetrics,
  runTimeOf,
  type DriftModel,
} from '../core/drift-schedule';
import type { MetricsSink, StructuredLogger } from '../core/ports';
import { DRIFT_COUNTERS_TABLE } from '../core/tables';
import { currentEnvironment, env, requireEnv } from '../shared/env';
import { logger, tracer } from '../shared/powertools';

/** Set on every ModelOpsFunction (config `monitoring.namespace`). */

const eventBridge = new EventBridgeClient({});
tracer?.captureAWSv3Client(eventBridge);

/** What one execution environment runs with: the stores, the models and where metrics go. */
export interface DriftMonitorWiring {
  readonly deps: DriftRunDeps;
  readonly models: readonly DriftModel[];
  readonly metrics: MetricsSink;
}

/** The AWS wiring; throws ConfigurationError naming the variable (and, for DRIFT_MODELS, the field) at fault. */
export function wireFromEnv(e: NodeJS.ProcessEnv = currentEnvironment()): DriftMonitorWiring {
  return {
    models: parseDriftModels(e[DRIFT_MODELS_ENV]),
    metrics: new PowertoolsMetricsSink({ namespace: env.metricsNamespace(e) }),
    deps: {
      deployments: DynamoDeploymentStore.fromEnv(e),
      versions: DynamoVersionStore.fromEnv(e),
      registry: new S3RegistryStore(env.registryBucket(e)),
      counters: new DynamoDriftCounterStore(dynamoDocumentClient, requireEnv(DRIFT_COUNTERS_TABLE.envVar, e)),
      monitorState: DynamoMonitorStateStore.fromEnv(e),
      events: new EventBridgePublisher(eventBridge),
      audit: DynamoAuditLog.fromEnv(e),
    },
  };
}

export interface DriftMonitorHandlerOptions {
  /** Built on the first invocation of each environment, so a bad variable fails that invocation with its name. */
  readonly wire: () => DriftMonitorWiring;
  /** @default the shared Powertools Logger */
  readonly logger?: StructuredLogger;
  /** @default Date.now */
  readonly now?: () => number;
}

/** A handler for the scheduled event; resolves to the run's outcomes. */
export function driftMonitorHandler(
  options: DriftMonitorHandlerOptions,
): (event: unknown, context?: Context) => Promise<MonitorOutcome[]> {
  const log = options.logger ?? logger;
  const now = options.now ?? Date.now;
  const wiredBy = new WeakMap<object, DriftMonitorWiring>();
  return async (event, context) => {
    if (context && log === logger) logger.addContext(context);
    let wired: DriftMonitorWiring;
    let nowMs: number;
    try {
      const environment = currentEnvironment();
      wired = wiredBy.get(environment) ?? options.wire();
      wiredBy.set(environment, wired);
      nowMs = runTimeOf(event, now());
    } catch (err) {
      // A bad variable or event fails every run the same way until redeployed: say so in the function's log.
      log.error('drift monitor cannot run', { error: String(err) });
      throw err;
    }
    const failed = new Set<string>();
    const outcomes = await runDriftMonitor(wired.deps, {
      models: wired.models,
      nowMs,
      actor: DRIFT_MONITOR_ACTOR,
      log: (message, fields) => {
        // runDriftMonitor calls this only for a model whose run threw.
        if (typeof fields.model === 'string') failed.add(fields.model);
        log.error(message, fields);
      },
    });
    for (const outcome of outcomes) {
      const entry = outcomeLogEntry(outcome);
      log[entry.level](entry.message, entry.fields);
      if (outcome.kind === 'judged') emitMonitorMetrics(wired.metrics, outcome.metrics);
    }
    for (const group of runErrorMetrics(wired.models, failed)) {
      wired.metrics.emit([group.dimensions], group.data);
    }
    wired.metrics.flush();
    return outcomes;
  };
}

export const handler = driftMonitorHandler({ wire: () => wireFromEnv() });
