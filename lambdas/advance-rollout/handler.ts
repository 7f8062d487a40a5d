/**
 * NextStep, Promote, Rollback, FinishDryRun, AbortRollout, BeginCanary, ClearFailedCandidate and BeginShadow (release
 * state machine): one conditional write of the routing record each, chosen by `action`, then the version stages; see
 * core/rollout.ts `advanceRollout` (BeginShadow starts the shadow phase of core/shadow-phase.ts).
 */
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../adapters/dynamo-deployment-store';
import { DynamoVersionStageStore } from '../adapters/dynamo-version-stage-store';
import { RoutingConflictError } from '../core/promotion';
import { advanceRollout, RolloutSupersededError } from '../core/rollout';
import { advanceRolloutEventSchema } from '../core/rollout-events';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

export const handler = releaseStepHandler({
  name: 'AdvanceRollout',
  wire: () => ({
    schema: advanceRolloutEventSchema,
    deps: {
      deployments: DynamoDeploymentStore.fromEnv(),
      audit: DynamoAuditLog.fromEnv(),
      stages: DynamoVersionStageStore.fromEnv(),
    },
  }),
  run: async (deps, input) => {
    const state = await advanceRollout(deps, input.rollout, input.action, Date.now(), input.error);
    logger.info('rollout advanced', {
      model: state.model,
      version: state.version,
      action: input.action,
      next: state.next,
      weight: state.weight,
    });
    if (input.action === 'promote') metrics.addMetric('RolloutsPromoted', MetricUnit.Count, 1);
    if (input.action === 'rollback') metrics.addMetric('RolloutsRolledBack', MetricUnit.Count, 1);
    return state;
  },
  onExpectedFailure: (err) => err instanceof RoutingConflictError || err instanceof RolloutSupersededError,
});
