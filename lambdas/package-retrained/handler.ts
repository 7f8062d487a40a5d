/**
 * Package (retrain state machine): the trainer's output (SageMaker's model.tar.gz, or model.onnx + report.json as
 * local mode's trainer writes them) becomes a bundle under `incoming/<model>/<version>/retrain-<runId>/`, manifest
 * last; see core/retrain-package.ts. The upload's own release trigger ends at once (release ASL
 * `StartedByRetrain`); the retrain's Release state releases the bundle.
 */
import { z } from 'zod';
import { createOnnxBackend } from '../adapters/onnx-backend';
import { S3RegistryStore } from '../adapters/s3-registry-store';
import type { ModelRuntime } from '../core/model-runtime';
import { packageRetrained, RetrainPackageError, TRIGGER_KINDS } from '../core/retrain-package';
import { env } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';
import { S3ArtifactWriter } from './s3-artifact-writer';

/** The Package state's Parameters (stepfunctions/retrain.asl.json). */
export const packageRetrainedEventSchema = z.looseObject({
  model: z.string().min(1),
  parentVersion: z.string().min(1),
  runId: z.string().min(1),
  trigger: z.looseObject({
    kind: z.enum(TRIGGER_KINDS),
    reason: z.string(),
    evidence: z.unknown().optional(),
  }),
  dataWindow: z.strictObject({ fromMs: z.number().int(), toMs: z.number().int() }),
  trainingJob: z.string().min(1),
  outputPrefix: z.string().min(1),
});

/** The native module loads on the first model, not when the module does. */
async function loadOnnxRuntime(): Promise<ModelRuntime> {
  const { OnnxModelRuntime } = await import('../adapters/onnx-model-runtime');
  return new OnnxModelRuntime();
}

export const handler = releaseStepHandler({
  name: 'Package',
  wire: () => {
    const bucket = env.registryBucket();
    return {
      schema: packageRetrainedEventSchema,
      deps: {
        registry: new S3RegistryStore(bucket),
        writer: new S3ArtifactWriter(bucket),
        backend: createOnnxBackend(loadOnnxRuntime),
      },
    };
  },
  run: async (deps, input) => {
    const result = await packageRetrained(deps, input);
    logger.info('retrained version packaged', {
      model: result.model,
      version: result.version,
      manifestKey: result.manifestKey,
      runId: input.runId,
    });
    metrics.addMetric('RetrainsPackaged', MetricUnit.Count, 1);
    return result;
  },
  onExpectedFailure: (err) => {
    if (!(err instanceof RetrainPackageError)) return false;
    logger.warn('retrained version cannot be packaged', { error: err.message });
    return true;
  },
});
