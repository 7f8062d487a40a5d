/**
 * Wiring of the retrain state machine (stepfunctions/retrain.asl.json): one row per function behind its
 * `${<Id>FunctionArn}` placeholders, plus the non-function placeholders CDK and local mode substitute. The Train and
 * Release states are service integrations (SageMaker, nested Step Functions), not rows: `RetrainPipeline` grants them
 * to the state machine role, and local mode binds them to the local trainer and the in-process release runner.
 */
import type { Workflow, WorkflowFunction } from './types';

/**
 * Registry grants of the training prefix (`training/<model>/<runId>/…`) and the incoming/ upload, which only retrain
 * rows need; each maps to one `RetrainPipeline` grant (the release rows' `bucket` grants are unchanged).
 */
export type TrainingAccess = 'writeTrainingData' | 'readTrainingOutput' | 'uploadIncoming' | 'readCapture';

export interface RetrainWorkflowFunction extends WorkflowFunction {
  readonly training: readonly TrainingAccess[];
}

/** The non-function placeholders of retrain.asl.json. */
export const RETRAIN_SUBSTITUTIONS = [
  'RegistryBucketName',
  'RegistryKeyArn',
  'TrainingRoleArn',
  'ReleaseStateMachineArn',
] as const;
export type RetrainSubstitution = (typeof RETRAIN_SUBSTITUTIONS)[number];

export const RETRAIN_WORKFLOW = {
  name: 'retrain',
  aslFile: 'retrain.asl.json',
  substitutions: RETRAIN_SUBSTITUTIONS,
  functions: [
    {
      // Behind Guard only: the one conditional write that lets a retrain start.
      id: 'RetrainGuard',
      handler: 'retrain-guard',
      import: () => import('../../lambdas/retrain-guard/handler'),
      serviceName: 'retrain-guard',
      description:
        'Lets one retrain of a model start (cooldown, daily cap, backoff, locks) or audits the skip',
      timeoutSeconds: 30,
      memoryMb: 256,
      onnxRuntime: false,
      // The retrain state (conditional PutItem), the rollout lock and last promote (routing record), the parent
      // version's registered manifest key.
      tables: { monitorState: 'write', deployments: 'read', modelVersions: 'read', auditLog: 'append' },
      bucket: [],
      training: [],
      settings: ['retrainPolicies'],
    },
    {
      // Helper R2's (lambdas/prepare-training-data/handler.ts): the training CSV of a run.
      id: 'PrepareTrainingData',
      handler: 'prepare-training-data',
      import: () => import('../../lambdas/prepare-training-data/handler'),
      serviceName: 'prepare-training-data',
      description: 'Writes training/<model>/<runId>/data/train.csv: reference data plus labelled predictions',
      timeoutSeconds: 300,
      memoryMb: 1024,
      onnxRuntime: false,
      // The parent's record and registered manifest (features), the labelled predictions of the data window.
      tables: { modelVersions: 'read', predictionLog: 'read' },
      bucket: ['readModels'],
      training: ['writeTrainingData', 'readCapture'],
      settings: ['registryBucket', 'retrainPolicies'],
    },
    {
      // Helper R2's (lambdas/package-retrained/handler.ts): the bundle of the retrained version.
      id: 'PackageRetrained',
      handler: 'package-retrained',
      import: () => import('../../lambdas/package-retrained/handler'),
      serviceName: 'package-retrained',
      description:
        'Packages the training output as a bundle with lineage under incoming/<model>/<version>/retrain-<runId>/',
      timeoutSeconds: 300,
      memoryMb: 1024,
      // Runs the new model for its prediction baseline and smoke samples.
      onnxRuntime: true,
      // The parent's registered manifest (readModels) is all it reads of the registry; no table.
      tables: {},
      bucket: ['readModels'],
      training: ['readTrainingOutput', 'uploadIncoming'],
      settings: ['registryBucket'],
    },
    {
      id: 'ChampionGate',
      handler: 'champion-gate',
      import: () => import('../../lambdas/champion-gate/handler'),
      serviceName: 'champion-gate',
      description:
        "Compares a retrained version's metrics with the LIVE version's (models[].retrain.championGate)",
      timeoutSeconds: 30,
      memoryMb: 256,
      onnxRuntime: false,
      tables: { deployments: 'read', modelVersions: 'read', auditLog: 'append' },
      bucket: [],
      training: [],
      settings: ['retrainPolicies'],
    },
    {
      // Behind RecordRejected, RecordReleased and RecordFailure, chosen by `result`.
      id: 'RecordRetrainOutcome',
      handler: 'record-retrain-outcome',
      import: () => import('../../lambdas/record-retrain-outcome/handler'),
      serviceName: 'record-retrain-outcome',
      description: 'Ends a retrain run in the retrain state (cooldown, backoff) and audits how it ended',
      timeoutSeconds: 30,
      memoryMb: 256,
      onnxRuntime: false,
      // Reads the routing record: promoted means the retrained version is stable now.
      tables: { monitorState: 'write', deployments: 'read', auditLog: 'append' },
      bucket: [],
      training: [],
      settings: ['retrainPolicies'],
    },
  ],
} as const satisfies Omit<Workflow, 'functions'> & { readonly functions: readonly RetrainWorkflowFunction[] };
