/**
 * PrepareTrainingData (retrain state machine): writes `training/<model>/<runId>/data/train.csv` from the model's
 * reference data and the labelled predictions in the run's window; see core/training-data.ts.
 *
 * The reference data of a model is config `models[].retrain.referenceData`, carried in RETRAIN_POLICIES (or the
 * event's `referenceData`): a registry key, in AWS and locally alike.
 */
import { z } from 'zod';
import { DynamoPredictionLog } from '../adapters/dynamo-prediction-log';
import { S3RegistryStore } from '../adapters/s3-registry-store';
import { parseRetrainPolicies, RETRAIN_POLICIES_ENV } from '../core/retrain-policy';
import { prepareTrainingData, TrainingDataError } from '../core/training-data';
import { currentEnvironment, env } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

const MAX_REFERENCE_BYTES = 256 * 1024 * 1024;

export const prepareTrainingDataEventSchema = z.looseObject({
  model: z.string().min(1),
  parentVersion: z.string().min(1),
  runId: z.string().min(1),
  dataWindow: z.strictObject({ fromMs: z.number().int(), toMs: z.number().int() }),
  /** Overrides the policy's referenceData (a manual start may name other reference data). */
  referenceData: z.string().min(1).optional(),
});

export const handler = releaseStepHandler({
  name: 'PrepareTrainingData',
  wire: () => {
    const e = currentEnvironment();
    const registry = new S3RegistryStore(env.registryBucket());
    return {
      schema: prepareTrainingDataEventSchema,
      deps: {
        deps: {
          registry,
          predictions: DynamoPredictionLog.fromEnv(),
          readReference: (key: string) => registry.readText(key, MAX_REFERENCE_BYTES),
        },
        policies: parseRetrainPolicies(e[RETRAIN_POLICIES_ENV]),
      },
    };
  },
  run: async ({ deps, policies }, input) => {
    // models[].retrain.referenceData, carried in RETRAIN_POLICIES.
    const policy = policies[input.model];
    const result = await prepareTrainingData(deps, input, input.referenceData ?? policy?.referenceData);
    // Counts only: rows may hold pii features, which are never logged.
    logger.info('training data prepared', {
      model: input.model,
      runId: input.runId,
      rows: result.rows,
      labelledRows: result.labelledRows,
      duplicateRows: result.duplicateRows,
      skipped: result.skipped,
    });
    metrics.addMetric('TrainingRows', MetricUnit.Count, result.rows);
    return result;
  },
  onExpectedFailure: (err) => {
    if (!(err instanceof TrainingDataError)) return false;
    logger.warn('training data cannot be prepared', { error: err.message });
    return true;
  },
});
