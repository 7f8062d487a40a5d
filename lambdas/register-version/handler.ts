/** RegisterVersion (release state machine): immutable, content-addressed registration; see core/registration.ts. */
import type { Context } from 'aws-lambda';
import { DynamoMetadataStore } from '../adapters/dynamo-metadata-store';
import { S3RegistryStore } from '../adapters/s3-registry-store';
import { VersionConflictError } from '../core/errors';
import { registerRelease, type RegistrationDeps, type RegistrationResult } from '../core/registration';
import { parseEvent, registerVersionEventSchema } from '../core/release-events';
import { env } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';

let wiring: { deps: RegistrationDeps; schema: ReturnType<typeof registerVersionEventSchema> } | undefined;

function wire() {
  if (!wiring) {
    const bucket = env.registryBucket();
    wiring = {
      schema: registerVersionEventSchema(bucket),
      deps: { registry: new S3RegistryStore(bucket), metadata: DynamoMetadataStore.fromEnv() },
    };
  }
  return wiring;
}

export const handler = async (event: unknown, context?: Context): Promise<RegistrationResult> => {
  if (context) logger.addContext(context);
  try {
    const { deps, schema } = wire();
    const input = parseEvent(schema, event, 'RegisterVersion');
    const result = await registerRelease(deps, input);
    logger.info(result.idempotent ? 'version already registered' : 'version registered', {
      model: result.model,
      version: result.version,
      artifactKey: result.artifactKey,
    });
    metrics.addMetric(
      result.idempotent ? 'RegistrationsIdempotent' : 'VersionsRegistered',
      MetricUnit.Count,
      1,
    );
    return result;
  } catch (err) {
    metrics.addMetric('StepErrors', MetricUnit.Count, 1);
    if (err instanceof VersionConflictError) {
      logger.warn('version conflict', { model: err.model, version: err.version, error: err });
      metrics.addMetric('VersionConflicts', MetricUnit.Count, 1);
    } else {
      logger.error('registration failed', {
        key: (event as { key?: unknown } | null)?.key,
        error: err as Error,
      });
    }
    throw err;
  } finally {
    metrics.publishStoredMetrics();
  }
};
