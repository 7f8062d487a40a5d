/** ValidateArtifact (release state machine): every check on an uploaded bundle; see core/validation.ts. */
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../adapters/dynamo-deployment-store';
import { DynamoVersionStore } from '../adapters/dynamo-version-store';
import { OnnxModelRuntime } from '../adapters/onnx-model-runtime';
import { S3RegistryStore } from '../adapters/s3-registry-store';
import { validateArtifactEventSchema } from '../core/release-events';
import { validateRelease } from '../core/validation';
import { env } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

export const handler = releaseStepHandler({
  name: 'ValidateArtifact',
  wire: () => {
    const bucket = env.registryBucket();
    return {
      schema: validateArtifactEventSchema(bucket),
      deps: {
        registry: new S3RegistryStore(bucket),
        versions: DynamoVersionStore.fromEnv(),
        deployments: DynamoDeploymentStore.fromEnv(),
        audit: DynamoAuditLog.fromEnv(),
        runtime: new OnnxModelRuntime(),
        settings: {
          maxArtifactBytes: env.maxArtifactBytes(),
          configuredModels: env.configuredModels(),
          maxBatchByModel: env.modelMaxBatch(),
        },
      },
    };
  },
  run: async (deps, input) => {
    const result = await validateRelease(deps, input);
    if (result.valid) {
      logger.info('bundle validated', {
        model: result.model,
        version: result.version,
        sha256: result.sha256,
      });
    } else {
      logger.info('bundle rejected', {
        model: result.model,
        version: result.version,
        reasons: result.reasons,
      });
    }
    metrics.addMetric(result.valid ? 'BundlesValidated' : 'BundlesRejected', MetricUnit.Count, 1);
    return result;
  },
});
