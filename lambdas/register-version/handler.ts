/** RegisterVersion (release state machine): immutable, content-addressed registration; see core/registration.ts. */
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoVersionStore } from '../adapters/dynamo-version-store';
import { S3RegistryStore } from '../adapters/s3-registry-store';
import { modelSignerFromEnv } from '../adapters/signer-from-env';
import { VersionConflictError } from '../core/errors';
import { registerRelease } from '../core/registration';
import { registerVersionEventSchema } from '../core/release-events';
import { env } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

export const handler = releaseStepHandler({
  name: 'RegisterVersion',
  wire: () => {
    const bucket = env.registryBucket();
    return {
      schema: registerVersionEventSchema(bucket),
      deps: {
        registry: new S3RegistryStore(bucket),
        versions: DynamoVersionStore.fromEnv(),
        audit: DynamoAuditLog.fromEnv(),
        lock: env.modelLock(),
        signer: modelSignerFromEnv(),
      },
    };
  },
  run: async (deps, input) => {
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
  },
  // A conflict is the pusher's mistake, not a fault of the step: the ASL ends it in the VersionConflict state.
  onExpectedFailure: (err) => {
    if (!(err instanceof VersionConflictError)) return false;
    logger.warn('version conflict', { model: err.model, version: err.version, error: err });
    metrics.addMetric('VersionConflicts', MetricUnit.Count, 1);
    return true;
  },
});
