/** ChampionGate (retrain state machine): the retrained version against LIVE's recorded metrics. */
import { z } from 'zod';
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../adapters/dynamo-deployment-store';
import { DynamoVersionStore } from '../adapters/dynamo-version-store';
import { runChampionGate } from '../core/champion-gate';
import { ConfigurationError } from '../core/errors';
import { parseRetrainPolicies, RETRAIN_POLICIES_ENV } from '../core/retrain-policy';
import { currentEnvironment } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

const eventSchema = z.object({
  model: z.string().min(1),
  version: z.string().min(1),
  runId: z.string().min(1),
  metrics: z.record(z.string(), z.number()),
  executionId: z.string().min(1),
  startedAt: z.string().min(1),
});

export const handler = releaseStepHandler({
  name: 'ChampionGate',
  wire: () => ({
    schema: eventSchema,
    deps: {
      policies: parseRetrainPolicies(currentEnvironment()[RETRAIN_POLICIES_ENV]),
      versions: DynamoVersionStore.fromEnv(),
      deployments: DynamoDeploymentStore.fromEnv(),
      audit: DynamoAuditLog.fromEnv(),
    },
  }),
  run: async (deps, event) => {
    const policy = deps.policies[event.model];
    if (policy === undefined) {
      throw new ConfigurationError(`ChampionGate: ${event.model} has no retrain policy in RETRAIN_POLICIES`);
    }
    const verdict = await runChampionGate(deps, { ...event, policy: policy.championGate });
    logger.info('champion gate', { model: event.model, version: event.version, ...verdict });
    metrics.addMetric(verdict.passed ? 'ChampionGatePassed' : 'ChampionGateRejected', MetricUnit.Count, 1);
    return verdict;
  },
});
