/** RecordRejection and RecordFailure (release state machine): the ledger side of a refused bundle or failed step. */
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoVersionStore } from '../adapters/dynamo-version-store';
import { recordRejection, recordReleaseFailure } from '../core/rejection';
import { recordRejectionEventSchema } from '../core/release-events';
import { env } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

export const handler = releaseStepHandler({
  name: 'RecordRejection',
  wire: () => ({
    schema: recordRejectionEventSchema(env.registryBucket()),
    deps: { versions: DynamoVersionStore.fromEnv(), audit: DynamoAuditLog.fromEnv() },
  }),
  run: async (deps, input) => {
    if ('reasons' in input) {
      const result = await recordRejection(deps, input);
      logger.info('rejection recorded', { ...result, reasons: input.reasons.length });
      metrics.addMetric('RejectionsRecorded', MetricUnit.Count, 1);
      return result;
    }
    const result = await recordReleaseFailure(deps, input);
    logger.warn('release failure recorded', { ...result, error: input.error.Error });
    metrics.addMetric('ReleaseFailures', MetricUnit.Count, 1);
    return result;
  },
});
