/** Guard (retrain state machine): validates the start input, then lets one retrain start or audits the skip. */
import { z } from 'zod';
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../adapters/dynamo-deployment-store';
import { DynamoMonitorStateStore } from '../adapters/dynamo-monitor-state';
import { DynamoVersionStore } from '../adapters/dynamo-version-store';
import { runRetrainGuard } from '../core/retrain-guard';
import { parseRetrainPolicies, parseRetrainStart, RETRAIN_POLICIES_ENV } from '../core/retrain-policy';
import { currentEnvironment } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

const eventSchema = z.object({
  input: z.unknown(),
  executionId: z.string().min(1),
  startedAt: z.string().min(1),
});

export const handler = releaseStepHandler({
  name: 'Guard',
  wire: () => ({
    schema: eventSchema,
    deps: {
      policies: parseRetrainPolicies(currentEnvironment()[RETRAIN_POLICIES_ENV]),
      monitorState: DynamoMonitorStateStore.fromEnv(),
      deployments: DynamoDeploymentStore.fromEnv(),
      versions: DynamoVersionStore.fromEnv(),
      audit: DynamoAuditLog.fromEnv(),
    },
  }),
  // A bad start input is the caller's mistake, already named in the error: not an error of this function.
  onExpectedFailure: (err) => {
    if ((err as Error).name !== 'RetrainInputError') return false;
    logger.warn('retrain input refused', { error: (err as Error).message });
    return true;
  },
  run: async (deps, event) => {
    const start = parseRetrainStart(event.input, Object.keys(deps.policies));
    const result = await runRetrainGuard(deps, {
      start,
      policy: deps.policies[start.model]!,
      executionId: event.executionId,
      startedAt: event.startedAt,
      nowMs: Date.now(),
    });
    if (result.skipped) {
      logger.info('retrain skipped', { model: start.model, code: result.code, reason: result.reason });
      metrics.addMetric('RetrainsSkipped', MetricUnit.Count, 1);
    } else {
      logger.info('retrain started', { model: start.model, runId: result.runId, trigger: start.trigger });
      metrics.addMetric('RetrainsStarted', MetricUnit.Count, 1);
    }
    return result;
  },
});
