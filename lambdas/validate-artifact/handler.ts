/** ValidateArtifact (release state machine): every check on an uploaded bundle; see core/validation.ts. */
import type { Context } from 'aws-lambda';
import { DynamoMetadataStore } from '../adapters/dynamo-metadata-store';
import { OnnxModelRuntime } from '../adapters/onnx-model-runtime';
import { S3RegistryStore } from '../adapters/s3-registry-store';
import { parseEvent, validateArtifactEventSchema, type ValidationResult } from '../core/release-events';
import { validateRelease, type ValidationDeps } from '../core/validation';
import { env } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';

let wiring: { deps: ValidationDeps; schema: ReturnType<typeof validateArtifactEventSchema> } | undefined;

// Built on first use (once per execution environment) so a missing variable fails the invocation with its name.
function wire() {
  if (!wiring) {
    const bucket = env.registryBucket();
    wiring = {
      schema: validateArtifactEventSchema(bucket),
      deps: {
        registry: new S3RegistryStore(bucket),
        metadata: DynamoMetadataStore.fromEnv(),
        runtime: new OnnxModelRuntime(),
        settings: { maxArtifactBytes: env.maxArtifactBytes(), configuredModels: env.configuredModels() },
      },
    };
  }
  return wiring;
}

export const handler = async (event: unknown, context?: Context): Promise<ValidationResult> => {
  if (context) logger.addContext(context);
  try {
    const { deps, schema } = wire();
    const input = parseEvent(schema, event, 'ValidateArtifact');
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
  } catch (err) {
    metrics.addMetric('StepErrors', MetricUnit.Count, 1);
    logger.error('validation failed', { key: (event as { key?: unknown } | null)?.key, error: err as Error });
    throw err;
  } finally {
    metrics.publishStoredMetrics();
  }
};
