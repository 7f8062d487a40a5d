/** RecordRejection and RecordFailure (release state machine): the ledger side of a refused bundle or failed step. */
import type { Context } from 'aws-lambda';
import { DynamoMetadataStore } from '../adapters/dynamo-metadata-store';
import {
  recordRejection,
  recordReleaseFailure,
  type RejectionDeps,
  type RejectionResult,
} from '../core/rejection';
import { parseEvent, recordRejectionEventSchema } from '../core/release-events';
import { env } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';

let wiring: { deps: RejectionDeps; schema: ReturnType<typeof recordRejectionEventSchema> } | undefined;

function wire() {
  wiring ??= {
    schema: recordRejectionEventSchema(env.registryBucket()),
    deps: { metadata: DynamoMetadataStore.fromEnv() },
  };
  return wiring;
}

export const handler = async (event: unknown, context?: Context): Promise<RejectionResult> => {
  if (context) logger.addContext(context);
  try {
    const { deps, schema } = wire();
    const input = parseEvent(schema, event, 'RecordRejection');
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
  } catch (err) {
    metrics.addMetric('StepErrors', MetricUnit.Count, 1);
    logger.error('recording the outcome failed', {
      key: (event as { key?: unknown } | null)?.key,
      error: err as Error,
    });
    throw err;
  } finally {
    metrics.publishStoredMetrics();
  }
};
