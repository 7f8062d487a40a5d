/**
 * Local mode's CloudWatch alarms: the same rule definitions CDK deploys (lambdas/core/alarm-rules.ts), evaluated on
 * an interval over the local metric store, with each state change logged and delivered to subscribers as the
 * EventBridge event CloudWatch would send ("CloudWatch Alarm State Change"). The alarm-triggered rollback
 * (lambdas/core/alarm-rollback.ts) is one subscriber, as the EventBridge rule's function is in AWS.
 */
import { randomUUID } from 'node:crypto';
import {
  rollbackOnAlarm,
  type AlarmRollbackResult,
  type AlarmRollbackStores,
} from '../lambdas/core/alarm-rollback';
import { alarmName, alarmNamePrefix, alarmRules, type AlarmRule } from '../lambdas/core/alarm-rules';
import {
  alarmStateChangeEvent,
  evaluateAlarmRules,
  type AlarmState,
  type AlarmStateChangeEvent,
  type AlarmStateValue,
} from '../lambdas/core/alarm-evaluation';
import type { MetricsReader } from '../lambdas/core/ports';
import { AUDIT_LOG_TABLE, DEPLOYMENTS_TABLE, MODEL_VERSIONS_TABLE } from '../lambdas/core/tables';
import { alarmRulesInputOf, type ModelOpsConfig } from '../lib/config';
import type { LocalLogger } from './logger';
import type { LocalService, RunningService } from './start';

export const ALARM_SERVICE_NAME = 'alarms';
/** How often local mode evaluates its alarms. CloudWatch evaluates every minute; locally faster costs nothing. */
export const DEFAULT_ALARM_INTERVAL_MS = 10_000;

export type AlarmEventSubscriber = (event: AlarmStateChangeEvent) => void;

interface ModelAlarms {
  readonly model: string;
  readonly rules: readonly AlarmRule[];
}

interface Current {
  readonly value: AlarmStateValue;
  readonly reason: string;
  readonly sinceMs: number;
}

/** Alarm names as CDK creates them: `<project>-<stage>-<model>-<rule id>`. */
export function localAlarmName(config: ModelOpsConfig, model: string, ruleId: string): string {
  return alarmName(alarmNamePrefix(config), model, ruleId);
}

export class AlarmRunner {
  private readonly models: readonly ModelAlarms[];
  private readonly current = new Map<string, Current>();
  private readonly subscribers = new Set<AlarmEventSubscriber>();

  constructor(
    private readonly config: ModelOpsConfig,
    private readonly reader: MetricsReader,
    private readonly logger: Pick<LocalLogger, 'info' | 'warn'>,
  ) {
    this.models = config.models.map((m) => ({
      model: m.name,
      rules: alarmRules(alarmRulesInputOf(m, config)),
    }));
  }

  /** Receives every state change; returns the unsubscribe function. */
  subscribe(subscriber: AlarmEventSubscriber): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  /** Every alarm's current state, by alarm name (an alarm not evaluated yet is absent). */
  states(): ReadonlyMap<string, Current> {
    return this.current;
  }

  /** One evaluation of every model's rules at `nowMs`; returns the events of the alarms whose state changed. */
  async tick(nowMs: number): Promise<AlarmStateChangeEvent[]> {
    const events: AlarmStateChangeEvent[] = [];
    for (const { model, rules } of this.models) {
      const previous = new Map<string, AlarmStateValue>();
      for (const rule of rules) {
        const known = this.current.get(localAlarmName(this.config, model, rule.id));
        if (known !== undefined) previous.set(rule.id, known.value);
      }
      let states: AlarmState[];
      try {
        states = await evaluateAlarmRules(rules, this.reader, nowMs, { previous });
      } catch (err) {
        this.logger.warn(`alarms of ${model} could not be evaluated: ${(err as Error).message}`);
        continue;
      }
      for (const state of states) {
        const rule = rules.find((r) => r.id === state.id)!;
        const alarmName = localAlarmName(this.config, model, state.id);
        // CloudWatch starts every alarm in INSUFFICIENT_DATA.
        const before = this.current.get(alarmName) ?? {
          value: 'INSUFFICIENT_DATA' as const,
          reason: 'not evaluated yet',
          sinceMs: nowMs,
        };
        const event = alarmStateChangeEvent({
          alarmName,
          description: rule.description,
          state,
          previous: { value: before.value, reason: before.reason, timeMs: before.sinceMs },
          nowMs,
          eventId: randomUUID(),
        });
        if (event === undefined) continue;
        this.current.set(alarmName, { value: state.value, reason: state.reason, sinceMs: nowMs });
        const line = `alarm ${alarmName}: ${before.value} -> ${state.value} (${state.reason})`;
        if (state.value === 'ALARM') this.logger.warn(line);
        else this.logger.info(line);
        events.push(event);
        for (const subscriber of this.subscribers) {
          try {
            subscriber(event);
          } catch (err) {
            this.logger.warn(`alarm subscriber failed on ${alarmName}: ${(err as Error).message}`);
          }
        }
      }
    }
    return events;
  }
}

export interface AlarmServiceOptions {
  /** Where the alarms read metrics: the inference server's local metric store. */
  readonly reader: MetricsReader;
  /** @default DEFAULT_ALARM_INTERVAL_MS */
  readonly intervalMs?: number;
  /** Receives the runner once it exists, e.g. to subscribe the rollout or the console. */
  readonly onRunner?: (runner: AlarmRunner) => void;
  /**
   * Subscribe the alarm-triggered rollback: a candidate alarm of a model with `canary.enabled` entering ALARM clears
   * its candidate, as the EventBridge rule does in AWS (lib/constructs/alarm-rollback.ts).
   * @default true
   */
  readonly rollback?: boolean;
}

/** The running alarm service (`LocalMode.services`, name `alarms`): its runner and the rollbacks it started. */
export interface RunningAlarmService extends RunningService {
  readonly runner: AlarmRunner;
  /** Resolves when every rollback started by an event delivered so far has finished. */
  rollbacksSettled(): Promise<void>;
}

/**
 * The alarm-triggered rollback as an alarm subscriber, with the same core function, models and alarm name prefix as
 * the deployed function. Each event runs in the background (subscribers are synchronous); `settled` waits for them.
 */
export function rollbackSubscriber(
  config: ModelOpsConfig,
  stores: AlarmRollbackStores,
  logger: Pick<LocalLogger, 'info' | 'warn'>,
): { readonly subscriber: AlarmEventSubscriber; settled(): Promise<void> } {
  const models = new Set(config.models.filter((m) => m.canary.enabled).map((m) => m.name));
  const prefix = alarmNamePrefix(config);
  const pending = new Set<Promise<void>>();
  const report = (result: AlarmRollbackResult) => {
    if (result.action === 'rolled-back') {
      logger.warn(
        `alarm ${result.alarmName}: rolled back candidate ${result.candidate} of ${result.model} ` +
          `(stable ${result.stable ?? 'none'} serves 100 %, revision ${result.revision})`,
      );
    } else if (result.action === 'ignored' && result.reason !== 'NOT_ALARM') {
      logger.info(`alarm ${result.alarmName}: no rollback (${result.reason}: ${result.message})`);
    }
  };
  return {
    subscriber: (event) => {
      const run = rollbackOnAlarm(stores, event, { nowMs: Date.now(), alarmNamePrefix: prefix, models })
        .then(report)
        .catch((err: Error) =>
          logger.warn(`alarm ${event.detail.alarmName}: rollback failed: ${err.message}`),
        )
        .finally(() => pending.delete(run));
      pending.add(run);
    },
    settled: async () => {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}

/** The alarm runner as a `LocalService`: evaluates on an interval until local mode stops. */
export function alarmService(options: AlarmServiceOptions): LocalService {
  return {
    name: ALARM_SERVICE_NAME,
    async start(context): Promise<RunningAlarmService> {
      const runner = new AlarmRunner(context.runtime.config, options.reader, context.logger);
      let rollback: ReturnType<typeof rollbackSubscriber> | undefined;
      const rollbackModels = context.runtime.config.models.filter((m) => m.canary.enabled);
      if (options.rollback !== false && rollbackModels.length > 0) {
        // Imported here: the adapter modules create their SDK clients from process.env (the emulators) when they load.
        const [{ DynamoDeploymentStore }, { DynamoAuditLog }, { DynamoVersionStageStore }] =
          await Promise.all([
            import('../lambdas/adapters/dynamo-deployment-store'),
            import('../lambdas/adapters/dynamo-audit-log'),
            import('../lambdas/adapters/dynamo-version-stage-store'),
          ]);
        const { tables } = context.emulators;
        rollback = rollbackSubscriber(
          context.runtime.config,
          {
            deployments: new DynamoDeploymentStore(tables[DEPLOYMENTS_TABLE.envVar]!),
            audit: new DynamoAuditLog(tables[AUDIT_LOG_TABLE.envVar]!),
            stages: new DynamoVersionStageStore(tables[MODEL_VERSIONS_TABLE.envVar]!),
          },
          context.logger,
        );
        runner.subscribe(rollback.subscriber);
      }
      options.onRunner?.(runner);
      let running: Promise<unknown> = Promise.resolve();
      const intervalMs = options.intervalMs ?? DEFAULT_ALARM_INTERVAL_MS;
      const timer = setInterval(() => {
        // One evaluation at a time: a slow read never stacks ticks.
        running = running.then(() => runner.tick(Date.now())).catch(() => undefined);
      }, intervalMs);
      timer.unref();
      const settled = async () => rollback?.settled();
      return {
        summary:
          `rules evaluated every ${intervalMs / 1000} s` +
          (rollback ? `; candidate alarms roll back ${rollbackModels.map((m) => m.name).join(', ')}` : ''),
        runner,
        rollbacksSettled: settled,
        stop: async () => {
          clearInterval(timer);
          await running;
          await settled();
        },
      };
    },
  };
}
