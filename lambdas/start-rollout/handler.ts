/**
 * StartRollout (release state machine): read the model's error budget, then take the model's rollout lock and route
 * the first canary step (capped by the budget), refuse while the budget is exhausted, promote a first version at once,
 * or skip when the model's canary is off; see core/rollout.ts `startRollout`. Metrics come from CloudWatch
 * GetMetricData in AWS and, when local mode sets METRICS_READ_URL, from the local inference server's metric store.
 */
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../adapters/dynamo-deployment-store';
import { DynamoVersionStageStore } from '../adapters/dynamo-version-stage-store';
import { DynamoVersionStore } from '../adapters/dynamo-version-store';
import { metricsReaderFromEnv } from '../adapters/metrics-reader-from-env';
import { RoutingConflictError } from '../core/promotion';
import { RolloutSupersededError, startRollout } from '../core/rollout';
import { parseRolloutPolicies, ROLLOUT_POLICIES_ENV, startRolloutEventSchema } from '../core/rollout-events';
import { currentEnvironment } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

// Another writer changed the record between our read and write (retried by the ASL), or the lock is not ours.
const expected = (err: unknown) =>
  err instanceof RoutingConflictError || err instanceof RolloutSupersededError;

export const handler = releaseStepHandler({
  name: 'StartRollout',
  wire: () => ({
    schema: startRolloutEventSchema,
    deps: {
      deployments: DynamoDeploymentStore.fromEnv(),
      versions: DynamoVersionStore.fromEnv(),
      audit: DynamoAuditLog.fromEnv(),
      stages: DynamoVersionStageStore.fromEnv(),
      metrics: metricsReaderFromEnv(),
      policies: parseRolloutPolicies(currentEnvironment()[ROLLOUT_POLICIES_ENV]),
    },
  }),
  run: async (deps, input) => {
    const { model, version } = input.registration;
    const state = await startRollout(deps, {
      model,
      version,
      executionId: input.executionId,
      policy: deps.policies.get(model),
      nowMs: Date.now(),
      ...(input.rollout !== undefined ? { waits: input.rollout.waits } : {}),
    });
    logger.info('rollout start', { model, version, next: state.next, reason: state.reason });
    // `deploy`: the lock was taken (the candidate at weight 0); `bake` only for a retry after BeginCanary.
    if (state.next === 'deploy') metrics.addMetric('RolloutsStarted', MetricUnit.Count, 1);
    if (state.next === 'budget-exhausted') metrics.addMetric('RolloutsRefused', MetricUnit.Count, 1);
    return state;
  },
  onExpectedFailure: expected,
});
