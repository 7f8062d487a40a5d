/**
 * Wiring of the release state machine (stepfunctions/release.asl.json): one row per function behind its
 * `${<Id>FunctionArn}` placeholders. `ReleasePipeline` (CDK), local mode (local/runtime.ts) and the ASL tests are
 * built from these rows; adding a Task is one ASL edit plus one row.
 */
import type { Workflow } from './types';

export const RELEASE_WORKFLOW = {
  name: 'release',
  aslFile: 'release.asl.json',
  functions: [
    {
      id: 'ValidateArtifact',
      handler: 'validate-artifact',
      import: () => import('../../lambdas/validate-artifact/handler'),
      serviceName: 'validate-artifact',
      description: 'Validates a model bundle uploaded to incoming/',
      // Hashes the artifact and loads it into ONNX Runtime for the smoke samples: memory buys CPU here.
      timeoutSeconds: 300,
      memoryMb: 3008,
      onnxRuntime: true,
      // Reads the version (and its champion); appends VALIDATION_PASSED (a rejection is RecordRejection's).
      tables: { modelVersions: 'read', deployments: 'read', auditLog: 'append' },
      bucket: ['readIncoming'],
      settings: ['registryBucket', 'maxArtifactBytes', 'configuredModels', 'modelMaxBatch'],
    },
    {
      id: 'RegisterVersion',
      handler: 'register-version',
      import: () => import('../../lambdas/register-version/handler'),
      serviceName: 'register-version',
      description: 'Copies a validated artifact to models/ and records the REGISTERED version',
      timeoutSeconds: 240,
      memoryMb: 512,
      onnxRuntime: false,
      tables: { modelVersions: 'write', auditLog: 'append' },
      bucket: ['readIncoming', 'publishModels'],
      settings: ['registryBucket', 'modelLockMode', 'modelLockDays', 'modelSigningKeyId'],
    },
    {
      // Behind both RecordRejection (validation failed) and RecordFailure (a step failed).
      id: 'RecordRejection',
      handler: 'record-rejection',
      import: () => import('../../lambdas/record-rejection/handler'),
      serviceName: 'record-rejection',
      description: 'Records a REJECTED version or a failed release in the audit log',
      timeoutSeconds: 30,
      memoryMb: 256,
      onnxRuntime: false,
      tables: { modelVersions: 'write', auditLog: 'append' },
      bucket: [],
      // The bucket name only checks that the event names the registry; no object is read.
      settings: ['registryBucket'],
    },
    {
      // Behind CheckApproval, AwaitApproval (a .waitForTaskToken state) and ExpireApproval, chosen by `action`.
      id: 'Approval',
      handler: 'approval',
      import: () => import('../../lambdas/approval/handler'),
      serviceName: 'approval',
      description: 'Asks for, stores and expires the approval a version needs before any traffic reaches it',
      timeoutSeconds: 30,
      memoryMb: 256,
      onnxRuntime: false,
      // Reads the version; the request is an attribute of the version's item, changed by conditional UpdateItem.
      tables: { modelVersions: 'patch', auditLog: 'append' },
      bucket: [],
      settings: ['approvalPolicies', 'eventBusName'],
    },
    {
      // Behind StartRollout only: the error-budget gate, then takes the rollout lock and routes the first step.
      id: 'StartRollout',
      handler: 'start-rollout',
      import: () => import('../../lambdas/start-rollout/handler'),
      serviceName: 'start-rollout',
      description:
        'Checks the error budget, takes the rollout lock and routes the first canary step (or promotes a first version)',
      timeoutSeconds: 30,
      memoryMb: 256,
      onnxRuntime: false,
      // The model's budget via GetMetricData (granted by ReleasePipeline, like AnalyzeCanary's). Reads the version
      // and, after promoting a first version, labels its stage in place (conditional UpdateItem).
      tables: { modelVersions: 'patch', deployments: 'write', auditLog: 'append' },
      bucket: [],
      settings: ['rolloutPolicies', 'metricsReadUrl'],
    },
    {
      id: 'AnalyzeCanary',
      handler: 'analyze-canary',
      import: () => import('../../lambdas/analyze-canary/handler'),
      serviceName: 'analyze-canary',
      description: 'Judges one canary look: candidate vs stable metrics over the same window',
      timeoutSeconds: 60,
      memoryMb: 512,
      onnxRuntime: false,
      // Reads the routing record to check the lock is still this execution's; metrics via GetMetricData. For the
      // prediction-shift check, both versions' registered manifests (ModelVersions record → models/ object: the
      // prediction baselines) and their prediction counts (DriftCounters Query), as the drift monitor reads them.
      tables: { deployments: 'read', auditLog: 'append', modelVersions: 'read', driftCounters: 'read' },
      bucket: ['readModels'],
      settings: ['metricsReadUrl', 'registryBucket'],
    },
    {
      // Behind NextStep, Promote, Rollback, FinishDryRun, AbortRollout, BeginCanary and ClearFailedCandidate: one
      // conditional routing write each.
      id: 'AdvanceRollout',
      handler: 'advance-rollout',
      import: () => import('../../lambdas/advance-rollout/handler'),
      serviceName: 'advance-rollout',
      description: 'Shifts the canary weight, promotes, rolls back or aborts a rollout',
      timeoutSeconds: 30,
      memoryMb: 256,
      onnxRuntime: false,
      // The version stages (LIVE, STANDBY, ROLLED_BACK) are attributes of the versions' items: conditional UpdateItem.
      tables: { modelVersions: 'patch', deployments: 'write', auditLog: 'append' },
      bucket: [],
      settings: [],
    },
    {
      // Behind DeployCandidate, PollCandidate and RetireCandidate, chosen by `action`.
      id: 'DeployCandidate',
      handler: 'deploy-candidate',
      import: () => import('../../lambdas/deploy-candidate/handler'),
      serviceName: 'deploy-candidate',
      description:
        'Deploys the candidate before it gets traffic (warm-up and smoke samples in the inference function, or a ' +
        'SageMaker variant next to stable), polls it, and retires the losing version after the decision',
      // Above the warm-up it waits for: the inference function loading the candidate and running its smoke samples.
      timeoutSeconds: 300,
      memoryMb: 256,
      onnxRuntime: false,
      // Routing is not its to change (StartRollout named the candidate at weight 0; BeginCanary routes it): it reads
      // the routing record to stop deploying once the lock is gone, and the versions' registered artifacts for the
      // SageMaker target. lambda:InvokeFunction on the inference aliases and the SageMaker grant come from
      // ReleasePipeline.addRolloutTarget.
      tables: { deployments: 'read', modelVersions: 'read', auditLog: 'append' },
      bucket: [],
      settings: ['rolloutTargets', 'candidateWarmUrl'],
    },
  ],
} as const satisfies Workflow;
