/**
 * Local mode's retrain triggers (docs/retrain.md#triggers): what EventBridge rules and EventBridge Scheduler do in
 * AWS, done in-process. Each trigger becomes the one documented start input of the retrain state machine
 * (lambdas/core/retrain-policy.ts `retrainStartSchema`) and starts `runtime.startRetrain`; the Guard then decides
 * (cooldown, daily cap, backoff, locks, drift persistence) exactly as on AWS.
 *
 * - drift: `ModelDriftDetected` on the local event bus (local/drift-runner.ts) → trigger `drift`, evidence = the
 *   event's detail, eventId = the detail's `eventId` (a redelivered event starts nothing);
 * - schedule: `models[].retrain.schedule` `rate(<n> minutes|hours|days)` → trigger `schedule` every period (unref'd
 *   timers, cleared on stop); `cron(...)` runs on AWS only and is logged as such;
 * - accuracy: the local alarm runner's `accuracy-floor` / `mae-ceiling` alarm entering ALARM → trigger `accuracy`;
 * - manual: `modelops retrain` writes the start input to `retrain-requests/<model>/<execution name>.json` in the
 *   local bucket (the CLI reaches local mode through the emulators only, as `push` does); the request's s3rver
 *   event starts the retrain under that execution name.
 *
 * The trigger functions are pure of timers and clocks (a `nowMs` is passed in), so tests call them directly.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type S3rver from 's3rver';
import type { AlarmStateChangeEvent } from '../lambdas/core/alarm-evaluation';
import { alarmNamePrefix, parseAlarmName } from '../lambdas/core/alarm-rules';
import { DRIFT_DETECTED_DETAIL_TYPE, DRIFT_EVENT_SOURCE } from '../lambdas/core/drift-monitor';
import {
  METRIC_DIMENSIONS,
  RETRAIN_METRICS,
  type DomainEvent,
  type MetricDatum,
  type MetricDimensions,
  type MetricsSink,
} from '../lambdas/core/ports';
import type { RetrainStart } from '../lambdas/core/retrain-policy';
import type { ModelOpsConfig } from '../lib/config';
import type { AlarmRunner } from './alarm-runner';
import type { ExecutionObservation, ExecutionResult } from './asl-runner';
import { emulatorClients } from './emulators';
import type { LocalEventBus } from './event-bus';
import type { LocalLogger } from './logger';
import { parseRetrainRequestKey, retrainExecutionName } from './retrain-requests';
import type { LocalService, RunningService } from './start';

export {
  EXECUTION_NAME_PATTERN,
  parseRetrainRequestKey,
  RETRAIN_REQUEST_PREFIX,
  retrainExecutionName,
  retrainRequestKey,
} from './retrain-requests';

export const RETRAIN_TRIGGER_SERVICE_NAME = 'retrain-triggers';

/** Models whose config has `retrain.enabled`. */
export function retrainModels(config: ModelOpsConfig): readonly string[] {
  return config.models.filter((m) => m.retrain.enabled).map((m) => m.name);
}

/**
 * The start input for a `ModelDriftDetected` event, or undefined when the event is not one or its model has no
 * retrain enabled. The whole detail is the evidence: the Guard counts `persistence.recent`.
 */
export function driftStartInput(event: DomainEvent, enabled: readonly string[]): RetrainStart | undefined {
  if (event.source !== DRIFT_EVENT_SOURCE || event.detailType !== DRIFT_DETECTED_DETAIL_TYPE)
    return undefined;
  const { detail } = event;
  const model = detail.model;
  if (typeof model !== 'string' || !enabled.includes(model)) return undefined;
  return {
    model,
    trigger: 'drift',
    // The same sentence the deployed rule's input transformer writes (lib/constructs/retrain-pipeline.ts).
    reason:
      `ModelDriftDetected on ${String(detail.version)}: share ${String(detail.share)} of features drifted in the ` +
      `window ending ${String(detail.windowEnd)}`.slice(0, 500),
    evidence: detail,
    ...(typeof detail.eventId === 'string' && detail.eventId !== ''
      ? { eventId: detail.eventId.slice(0, 512) }
      : {}),
  };
}

/**
 * The start input for an alarm state change, or undefined unless it is an accuracy alarm (`accuracy-floor`,
 * `mae-ceiling`) of a retrain-enabled model of this deployment entering ALARM. Shaped as the deployed rule's input.
 */
export function accuracyStartInput(
  event: AlarmStateChangeEvent,
  config: ModelOpsConfig,
): RetrainStart | undefined {
  if (event.detail.state.value !== 'ALARM') return undefined;
  const parsed = parseAlarmName(event.detail.alarmName, alarmNamePrefix(config));
  if (parsed === undefined || parsed.kind !== 'accuracy') return undefined;
  if (!retrainModels(config).includes(parsed.model)) return undefined;
  return {
    model: parsed.model,
    trigger: 'accuracy',
    reason: `accuracy alarm ${event.detail.alarmName} entered ALARM`.slice(0, 500),
    evidence: {
      alarmName: event.detail.alarmName,
      reason: event.detail.state.reason,
      timestamp: event.detail.state.timestamp,
    },
    eventId: event.id,
  };
}

/**
 * The start input of a scheduled trigger fired at `firedAtMs`, shaped as the deployed schedule rule's input; the
 * eventId (one per firing, as EventBridge's event id) makes a firing start at most one run.
 */
export function scheduleStartInput(model: string, schedule: string, firedAtMs: number): RetrainStart {
  const time = new Date(firedAtMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    model,
    trigger: 'schedule',
    reason: `scheduled retrain (models[].retrain.schedule ${schedule})`,
    evidence: { schedule, time },
    eventId: `schedule#${model}#${time}`,
  };
}

const RATE_UNIT_MS: Readonly<Record<string, number>> = {
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** `rate(<n> <unit>)` in milliseconds; undefined for `cron(...)` (or anything else), which local mode does not run. */
export function rateMs(schedule: string): number | undefined {
  const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(schedule.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return n > 0 ? n * RATE_UNIT_MS[m[2]!]! : undefined;
}

/** What the trigger service calls to start one retrain (the runtime's `startRetrain`). */
export type StartRetrain = (input: unknown, name: string) => Promise<ExecutionResult>;

export interface RetrainTriggersOptions {
  readonly config: ModelOpsConfig;
  readonly startRetrain: StartRetrain;
  readonly logger: Pick<LocalLogger, 'info' | 'warn' | 'error'>;
  /** @default Date.now */
  readonly now?: () => number;
}

/** One retrain a trigger started (or tried to). */
export interface TriggeredRetrain {
  readonly name: string;
  readonly input: RetrainStart | unknown;
  readonly result: Promise<ExecutionResult | undefined>;
}

/**
 * The triggers as plain methods: each turns what happened into a start input and starts the retrain in the
 * background. Nothing here waits on a timer; `settled()` waits for the retrains started so far.
 */
export class RetrainTriggers {
  private readonly enabled: readonly string[];
  private readonly pending = new Set<Promise<unknown>>();
  readonly started: TriggeredRetrain[] = [];

  constructor(private readonly options: RetrainTriggersOptions) {
    this.enabled = retrainModels(options.config);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Starts one execution in the background and logs how it ended (skips are the Guard's business, not errors). */
  start(input: unknown, name: string): TriggeredRetrain {
    const log = this.options.logger;
    const result = this.options.startRetrain(input, name).then(
      (r) => {
        const output = r.output as
          { skipped?: boolean; code?: string; reason?: string; outcome?: string } | undefined;
        if (r.status !== 'SUCCEEDED')
          log.warn(`retrain ${name}: ${r.status} (${r.error ?? ''}: ${r.cause ?? ''})`);
        else if (output?.skipped === true)
          log.info(`retrain ${name}: skipped (${output.code}: ${output.reason})`);
        else log.info(`retrain ${name}: ${output?.outcome ?? 'SUCCEEDED'}`);
        return r;
      },
      (err: Error) => {
        log.error(`retrain ${name} could not start: ${err.message}`);
        return undefined;
      },
    );
    const tracked = result.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
    const triggered = { name, input, result };
    this.started.push(triggered);
    return triggered;
  }

  /** `ModelDriftDetected` from the drift monitor; other events and models without retrain are ignored. */
  onDriftEvent(event: DomainEvent): TriggeredRetrain | undefined {
    const input = driftStartInput(event, this.enabled);
    if (input === undefined) return undefined;
    this.options.logger.info(`retrain trigger: ${input.reason}`);
    return this.start(input, retrainExecutionName(input.model, 'drift', this.now()));
  }

  /** A local alarm state change; only accuracy alarms of retrain-enabled models entering ALARM start a retrain. */
  onAlarmEvent(event: AlarmStateChangeEvent): TriggeredRetrain | undefined {
    const input = accuracyStartInput(event, this.options.config);
    if (input === undefined) return undefined;
    this.options.logger.info(`retrain trigger: ${input.reason}`);
    return this.start(input, retrainExecutionName(input.model, 'accuracy', this.now()));
  }

  /** One firing of `model`'s schedule at `firedAtMs`. */
  onSchedule(model: string, firedAtMs: number = this.now()): TriggeredRetrain | undefined {
    const schedule = this.options.config.models.find((m) => m.name === model)?.retrain;
    if (schedule?.enabled !== true || schedule.schedule === undefined) return undefined;
    const input = scheduleStartInput(model, schedule.schedule, firedAtMs);
    this.options.logger.info(`retrain trigger: ${input.reason} for ${model}`);
    return this.start(input, retrainExecutionName(model, 'schedule', firedAtMs));
  }

  /**
   * A manual request written by `modelops retrain` (its key and JSON body). The input goes to the state machine as
   * written: the Guard validates it (a bad one ends the execution InvalidInput, as on AWS).
   */
  onRequest(key: string, body: string): TriggeredRetrain | undefined {
    const parsed = parseRetrainRequestKey(key);
    if (parsed === undefined) return undefined;
    let input: unknown;
    try {
      input = JSON.parse(body);
    } catch {
      this.options.logger.warn(
        `retrain request ${key} is not JSON; ignored (write it with modelops retrain)`,
      );
      return undefined;
    }
    this.options.logger.info(`retrain requested: s3://…/${key} -> retrain execution ${parsed.name}`);
    return this.start(input, parsed.name);
  }

  /** The schedules local mode runs: `rate(...)` of each retrain-enabled model, in ms; cron ones are listed apart. */
  schedules(): {
    readonly timed: readonly { model: string; everyMs: number }[];
    readonly cron: readonly string[];
  } {
    const timed: { model: string; everyMs: number }[] = [];
    const cron: string[] = [];
    for (const m of this.options.config.models) {
      if (!m.retrain.enabled || m.retrain.schedule === undefined) continue;
      const everyMs = rateMs(m.retrain.schedule);
      if (everyMs === undefined) cron.push(m.name);
      else timed.push({ model: m.name, everyMs });
    }
    return { timed, cron };
  }

  /** Resolves when every retrain started so far has ended. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}

export interface RetrainTriggerServiceOptions {
  /** The bus the drift service publishes `ModelDriftDetected` on (the same instance given to `driftService`). */
  readonly bus?: LocalEventBus;
  /** The local alarm runner, once it exists (the alarm service starts first); accuracy alarms trigger retrains. */
  readonly alarms?: () => AlarmRunner | undefined;
  /** @default true: run each model's `rate(...)` schedule */
  readonly schedules?: boolean;
  /** Receives the triggers once they exist (tests drive them directly). */
  readonly onTriggers?: (triggers: RetrainTriggers) => void;
  /**
   * The local metric store: a retrain run that ends failed adds 1 to RetrainsFailed {Model}, the series the
   * retrain-failed alarm rule reads (in AWS RecordRetrainOutcome emits it as EMF; locally Powertools metrics are off).
   */
  readonly metrics?: MetricsSink;
}

export interface RunningRetrainTriggers extends RunningService {
  readonly triggers: RetrainTriggers;
}

/**
 * The retrain triggers as a `LocalService`. With no model retrain-enabled it subscribes to nothing and says so. On
 * stop: timers cleared, subscriptions dropped, then it waits for the retrains it started.
 */
/** The Error of retrain.asl.json's Fail state after RecordFailure (a step failed; RETRAIN_FAILED is audited). */
const RETRAIN_FAILED_ERROR = 'RetrainFailed';

/**
 * The RetrainsFailed datum of a finished retrain execution that ended failed (the `RetrainFailed` Fail state, after
 * RecordFailure audited it), or undefined for any other observation.
 */
export function retrainFailureMetric(
  o: ExecutionObservation,
): { dimensions: MetricDimensions[]; data: MetricDatum[] } | undefined {
  if (o.kind !== 'finished' || o.result.error !== RETRAIN_FAILED_ERROR) return undefined;
  const model = (o.result.input as { model?: unknown } | null)?.model;
  if (typeof model !== 'string') return undefined;
  return {
    dimensions: [{ [METRIC_DIMENSIONS.model]: model }],
    data: [{ name: RETRAIN_METRICS.failed, unit: 'Count', value: 1 }],
  };
}

export function retrainTriggerService(options: RetrainTriggerServiceOptions = {}): LocalService {
  return {
    name: RETRAIN_TRIGGER_SERVICE_NAME,
    async start(context): Promise<RunningRetrainTriggers> {
      const { runtime, emulators, logger } = context;
      const triggers = new RetrainTriggers({
        config: runtime.config,
        startRetrain: (input, name) => runtime.startRetrain(input, name),
        logger,
      });
      options.onTriggers?.(triggers);
      const models = retrainModels(runtime.config);
      if (models.length === 0) {
        return {
          triggers,
          summary: 'off (no model has retrain.enabled)',
          stop: async () => undefined,
        };
      }
      const cleanups: (() => void)[] = [];
      const metrics = options.metrics;
      if (metrics && runtime.retrain) {
        cleanups.push(
          runtime.retrain.observe((o) => {
            const failed = retrainFailureMetric(o);
            if (failed) metrics.emit(failed.dimensions, failed.data);
          }),
        );
      }
      if (options.bus) {
        const bus = options.bus;
        cleanups.push(bus.subscribe((event) => void triggers.onDriftEvent(event)));
      }
      const alarms = options.alarms?.();
      if (alarms) cleanups.push(alarms.subscribe((event) => void triggers.onAlarmEvent(event)));

      const { timed, cron } = triggers.schedules();
      if (options.schedules !== false) {
        for (const { model, everyMs } of timed) {
          const timer = setInterval(() => void triggers.onSchedule(model, Date.now()), everyMs);
          timer.unref();
          cleanups.push(() => clearInterval(timer));
        }
      }
      for (const model of cron) {
        logger.info(
          `retrain schedule of ${model} is a cron expression: it runs on AWS only (EventBridge Scheduler)`,
        );
      }

      // Manual starts from `modelops retrain`, as the upload watcher handles manifests.
      const { s3 } = emulatorClients(emulators);
      const onEvent = (event: { Records?: unknown }) => {
        if (!Array.isArray(event.Records)) return;
        for (const record of event.Records as S3rver.EventRecord[]) {
          if (!record.eventName?.startsWith('ObjectCreated:')) continue;
          if (record.s3?.bucket?.name !== emulators.bucket) continue;
          const key = record.s3.object.key;
          if (parseRetrainRequestKey(key) === undefined) continue;
          void s3
            .send(new GetObjectCommand({ Bucket: emulators.bucket, Key: key }))
            .then((r) => r.Body!.transformToString('utf8'))
            .then((body) => triggers.onRequest(key, body))
            .catch((err: Error) => logger.warn(`retrain request ${key} could not be read: ${err.message}`));
        }
      };
      emulators.s3rver.on('event', onEvent);
      cleanups.push(() => emulators.s3rver.off('event', onEvent));

      const parts = [
        options.bus ? 'drift' : undefined,
        alarms ? 'accuracy alarms' : undefined,
        timed.length > 0 && options.schedules !== false
          ? `schedules (${timed.map((t) => `${t.model} every ${t.everyMs / 60_000} min`).join(', ')})`
          : undefined,
        'modelops retrain',
      ].filter((p): p is string => p !== undefined);
      return {
        triggers,
        summary: `${models.join(', ')}: ${parts.join(', ')}`,
        stop: async () => {
          for (const cleanup of cleanups) cleanup();
          await triggers.settled();
          s3.destroy();
        },
      };
    },
  };
}
