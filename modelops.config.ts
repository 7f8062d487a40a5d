/**
 * Project configuration. Every field is documented in docs/config.md; omitted fields take the defaults listed there.
 */
import { defineConfig } from './lib/config';

export default defineConfig({
  project: 'modelops',
  stage: 'dev',
  registry: {
    maxArtifactBytes: 512 * 1024 * 1024,
    incomingExpirationDays: 14,
    noncurrentVersionExpirationDays: 90,
  },
  retention: { logDays: 365, accessLogDays: 365 },
  release: { reservedConcurrency: 5 },
  monitoring: { namespace: 'ModelOps' },
  // alarmEmail: 'oncall@example.com',
  models: [
    {
      name: 'breast-cancer',
      target: 'lambda',
      owner: 'ml-platform',
      riskTier: 'medium',
      memoryMb: 1024,
      timeoutSeconds: 10,
      // Off by default; provisioned concurrency is billed while it exists:
      // provisionedConcurrency: { min: 1, max: 10, targetUtilization: 0.7 },
      // reservedConcurrency: 20,
      // Request limits, routing cache and capture (defaults in docs/config.md), e.g. capture 5% of requests:
      // inference: { capture: { sampleRate: 0.05 } },
      // Retraining (docs/retrain.md). Local mode runs trainer.command; a deploy also needs trainer.sagemaker.image,
      // which is why it is off here. referenceData is a registry key holding the reference CSV (features + label):
      // retrain: {
      //   enabled: true,
      //   schedule: 'rate(7 days)',
      //   referenceData: 'reference/breast-cancer.csv',
      //   trainer: {
      //     command: ['node', '--import', 'tsx', 'examples/trainer/train.ts'],
      //     // sagemaker: { image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/trainer:1.0' },
      //   },
      //   championGate: { metric: 'auc' },
      // },
    },
    { name: 'credit-risk', target: 'lambda', owner: 'ml-platform', riskTier: 'high' },
    // A model served by a SageMaker endpoint behind the same router (see docs/config.md):
    // {
    //   name: 'fraud-score',
    //   target: 'sagemaker',
    //   owner: 'ml-platform',
    //   sagemaker: {
    //     image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgboost-inference:1.7-1',
    //     modelDataKey: 'models/fraud-score/1.0.0/<sha256>.tar.gz',
    //     version: '1.0.0',
    //     variant: { kind: 'serverless', memorySizeInMb: 2048, maxConcurrency: 20, provisionedConcurrency: 2 },
    //   },
    // },
  ],
});
