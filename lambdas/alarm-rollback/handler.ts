/**
 * AlarmRollback: CloudWatch's "CloudWatch Alarm State Change" events of the candidate alarms, delivered by the
 * EventBridge rule of lib/constructs/alarm-rollback.ts, roll the model's candidate back at once; see
 * core/alarm-rollback.ts `rollbackOnAlarm` and docs/rollout.md ("Alarm-triggered rollback").
 *
 * Invoked asynchronously: a failure (a store error, a record that kept changing) is thrown so Lambda retries the
 * event, then hands it to the on-failure queue. Every retry is safe: a rollback that landed is recognised.
 */
import { z } from 'zod';
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../adapters/dynamo-deployment-store';
import { DynamoVersionStageStore } from '../adapters/dynamo-version-stage-store';
import {
  ALARM_NAME_PREFIX_ENV,
  ALARM_ROLLBACK_MODELS_ENV,
  rollbackOnAlarm,
  type AlarmRollbackResult,
  type AlarmRollbackStores,
} from '../core/alarm-rollback';
import { currentEnvironment, listEnv, requireEnv } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

/** The fields of the EventBridge event the rollback reads; anything else in the event is ignored. */
export const alarmStateChangeEventSchema = z.object({
  id: z.string({ error: 'is required: the EventBridge event id' }).min(1),
  source: z.literal('aws.cloudwatch', {
    error: 'must be "aws.cloudwatch": the rule delivers CloudWatch alarm events only',
  }),
  'detail-type': z.literal('CloudWatch Alarm State Change', {
    error: 'must be "CloudWatch Alarm State Change": the rule delivers alarm state changes only',
  }),
  detail: z.object(
    {
      alarmName: z.string({ error: 'is required: the name of the alarm that changed state' }).min(1),
      state: z.object(
        {
          value: z.enum(['OK', 'ALARM', 'INSUFFICIENT_DATA'], {
            error: 'must be OK, ALARM or INSUFFICIENT_DATA',
          }),
          reason: z.string({ error: "is required: CloudWatch's reason for the state" }),
          timestamp: z
            .string({ error: 'is required: when the alarm entered the state' })
            .refine((t) => !Number.isNaN(Date.parse(t)), {
              error: 'must be a date-time, e.g. 2026-06-01T00:00:00.000+0000',
            }),
        },
        { error: 'is required: the new state { value, reason, timestamp }' },
      ),
    },
    { error: 'is required: the alarm state change (alarmName, state)' },
  ),
});

export interface AlarmRollbackWiring {
  readonly stores: AlarmRollbackStores;
  readonly alarmNamePrefix: string;
  readonly models: ReadonlySet<string>;
}

/** The AWS wiring; throws ConfigurationError naming the variable that is not set. */
export function wireFromEnv(e: NodeJS.ProcessEnv = currentEnvironment()): AlarmRollbackWiring {
  requireEnv(ALARM_ROLLBACK_MODELS_ENV, e);
  return {
    stores: {
      deployments: DynamoDeploymentStore.fromEnv(e),
      audit: DynamoAuditLog.fromEnv(e),
      stages: DynamoVersionStageStore.fromEnv(e),
    },
    alarmNamePrefix: requireEnv(ALARM_NAME_PREFIX_ENV, e),
    models: new Set(listEnv(ALARM_ROLLBACK_MODELS_ENV, e)),
  };
}

/** A handler over `wire()` (built on first use) and a clock; tests pass fakes. */
export function alarmRollbackHandler(options: {
  readonly wire: () => AlarmRollbackWiring;
  /** @default Date.now */
  readonly now?: () => number;
}) {
  const now = options.now ?? Date.now;
  return releaseStepHandler({
    name: 'AlarmRollback',
    wire: () => ({ deps: options.wire(), schema: alarmStateChangeEventSchema }),
    run: async (deps, event): Promise<AlarmRollbackResult> => {
      const result = await rollbackOnAlarm(deps.stores, event, {
        nowMs: now(),
        alarmNamePrefix: deps.alarmNamePrefix,
        models: deps.models,
      });
      if (result.action === 'rolled-back') {
        logger.warn('candidate rolled back by its alarm', { ...result });
        metrics.addMetric('AlarmRollbacks', MetricUnit.Count, 1);
      } else {
        logger.info('alarm event left routing unchanged', { ...result, eventId: event.id });
      }
      return result;
    },
  });
}

export const handler = alarmRollbackHandler({ wire: () => wireFromEnv() });
