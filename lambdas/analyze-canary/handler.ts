/**
 * AnalyzeCanary (release state machine): one look of the canary judge over the candidate's and the stable version's
 * metrics; see core/rollout.ts `analyzeCanary`. Metrics come from CloudWatch GetMetricData in AWS and, when local
 * mode sets METRICS_READ_URL, from the local inference server's metric store (the same MetricsReader port). The
 * prediction-shift check reads both versions' prediction bins with the drift monitor's ports: their registered
 * manifests (models/) for the bins, the DriftCounters table for the counts (core/canary-predictions.ts). With
 * `phase: "shadow"` (AnalyzeShadow) it is one look of the shadow phase instead (core/shadow-phase.ts).
 */
import { dynamoDocumentClient } from '../adapters/clients';
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../adapters/dynamo-deployment-store';
import { DynamoDriftCounterStore } from '../adapters/dynamo-drift-counters';
import { DynamoVersionStore } from '../adapters/dynamo-version-store';
import { metricsReaderFromEnv } from '../adapters/metrics-reader-from-env';
import { S3RegistryStore } from '../adapters/s3-registry-store';
import { analyzeCanary } from '../core/rollout';
import { analyzeCanaryEventSchema, asRolloutState } from '../core/rollout-events';
import { analyzeShadow } from '../core/shadow-phase';
import { DRIFT_COUNTERS_TABLE } from '../core/tables';
import { env, requireEnv } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

export const handler = releaseStepHandler({
  name: 'AnalyzeCanary',
  wire: () => ({
    schema: analyzeCanaryEventSchema,
    deps: {
      deployments: DynamoDeploymentStore.fromEnv(),
      audit: DynamoAuditLog.fromEnv(),
      metrics: metricsReaderFromEnv(),
      predictions: {
        versions: DynamoVersionStore.fromEnv(),
        registry: new S3RegistryStore(env.registryBucket()),
        counters: new DynamoDriftCounterStore(dynamoDocumentClient, requireEnv(DRIFT_COUNTERS_TABLE.envVar)),
      },
    },
  }),
  run: async (deps, input) => {
    const rollout = asRolloutState(input.rollout);
    // AnalyzeShadow (phase "shadow") is this function too: the same reader, the shadow phase's judge.
    const state =
      input.phase === 'shadow'
        ? await analyzeShadow(deps, rollout, Date.now())
        : await analyzeCanary(deps, rollout, Date.now());
    const verdict = state.verdicts.at(-1);
    logger.info(input.phase === 'shadow' ? 'shadow verdict' : 'canary verdict', {
      model: state.model,
      version: state.version,
      step: state.step,
      weight: state.weight,
      decision: verdict?.decision,
      reasonCode: verdict?.reasonCode,
      next: state.next,
    });
    metrics.addMetric('CanaryAnalyses', MetricUnit.Count, 1);
    return state;
  },
});
