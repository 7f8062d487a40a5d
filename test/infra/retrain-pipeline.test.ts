import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRetrainStart } from '../../lambdas/core/retrain-policy';
import type { ModelOpsConfigInput } from '../../lib/config';
import { ArtifactRegistry } from '../../lib/constructs/artifact-registry';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { ReleasePipeline } from '../../lib/constructs/release-pipeline';
import {
  ecrRepositoryArn,
  RETRAIN_ASL_PATH,
  RetrainPipeline,
  type RetrainPipelineProps,
} from '../../lib/constructs/retrain-pipeline';
import { OPTIONAL_STACK_OUTPUTS } from '../../lib/stacks/modelops-stack';
import { RETRAIN_WORKFLOW } from '../../lib/workflows/retrain';
import { boundVariableNames, functionArnPlaceholder } from '../../lib/workflows/types';
import { matchesEventPattern } from './event-pattern';
import { asArray, logicalIdOf, sageMakerArnPattern, synthApp, testStack, TEST_CONFIG } from './helpers';
import type { SynthResult } from './helpers';

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/trainer:1.0';

/**
 * breast-cancer retrains (drift monitored, labelled feedback with an accuracy floor, a weekly schedule, a SageMaker
 * trainer); credit-risk does not.
 */
const RETRAIN_CONFIG: ModelOpsConfigInput = {
  ...TEST_CONFIG,
  models: [
    {
      name: 'breast-cancer',
      owner: 'ml-platform',
      drift: { enabled: true },
      feedback: { sampleRate: 0.1, accuracyFloor: 0.9 },
      retrain: {
        enabled: true,
        schedule: 'rate(7 days)',
        trainer: { command: ['python3', 'train.py'], sagemaker: { image: IMAGE } },
        championGate: { metric: 'auc' },
      },
    },
    { name: 'credit-risk', owner: 'ml-platform' },
  ],
};

interface Statement {
  readonly Sid?: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, unknown>;
}

let synth: SynthResult;
let resources: Record<string, { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string }>;
beforeAll(() => {
  synth = synthApp(RETRAIN_CONFIG);
  resources = synth.template.toJSON().Resources;
});
afterAll(() => synth.cleanup());

/** CloudFormation intrinsics as short strings: `<RegistryBucket.Arn>/training/*`, `${AWS::Region}`. */
function show(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  const bare = (id: string) => id.replace(/[0-9A-F]{8}$/, '');
  if ('Ref' in v)
    return String(v.Ref).startsWith('AWS::') ? `\${${String(v.Ref)}}` : `<${bare(String(v.Ref))}>`;
  if ('Fn::GetAtt' in v) {
    const [id, attr] = v['Fn::GetAtt'] as [string, string];
    return `<${bare(id)}.${attr}>`;
  }
  if ('Fn::Join' in v) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(show).join(sep);
  }
  if ('Fn::Select' in v) {
    // Arn.split(<state machine>).resourceName: the state machine's name.
    const [, split] = v['Fn::Select'] as [number, { 'Fn::Split': [string, unknown] }];
    return `${show(split['Fn::Split'][1]).replace(/>$/, '')}.Name>`;
  }
  return JSON.stringify(value);
}

const ARN = 'arn:${AWS::Partition}';
const REGION_ACCOUNT = '${AWS::Region}:${AWS::AccountId}';

/** The statements of a role's managed policy, rendered with `show`, without Sid. */
function statementsOf(
  policyPrefix: string,
): { actions: string[]; resources: string[]; condition?: unknown }[] {
  const id = logicalIdOf(synth.template, 'AWS::IAM::ManagedPolicy', policyPrefix);
  const doc = resources[id]!.Properties.PolicyDocument as { Statement: Statement[] };
  return doc.Statement.map((s) => ({
    actions: [...asArray(s.Action)].sort(),
    resources: asArray(s.Resource as unknown[]).map(show),
    ...(s.Condition
      ? {
          condition: JSON.parse(
            JSON.stringify(s.Condition, (_k, x) =>
              typeof x === 'object' && x !== null && ('Fn::Join' in x || 'Ref' in x) ? show(x) : x,
            ),
          ),
        }
      : {}),
  }));
}

const VIA_S3 = { StringEquals: { 'kms:ViaService': 's3.${AWS::Region}.amazonaws.com' } };
const VIA_DYNAMODB = { StringEquals: { 'kms:ViaService': 'dynamodb.${AWS::Region}.amazonaws.com' } };
const KMS_WRITE_S3 = {
  actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
  resources: ['<RegistryKey.Arn>'],
  condition: VIA_S3,
};
const KMS_READ_S3 = { actions: ['kms:Decrypt'], resources: ['<RegistryKey.Arn>'], condition: VIA_S3 };
const KMS_WRITE_DDB = {
  actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
  resources: ['<TablesKey.Arn>'],
  condition: VIA_DYNAMODB,
};
const KMS_READ_DDB = { actions: ['kms:Decrypt'], resources: ['<TablesKey.Arn>'], condition: VIA_DYNAMODB };
const fnBase = (row: string) => [
  { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`<Retrain${row}LogGroup.Arn>`] },
  { actions: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], resources: ['*'] },
];
const READ = ['dynamodb:GetItem', 'dynamodb:Query'];
const WRITE = ['dynamodb:GetItem', 'dynamodb:PutItem'];
const MODEL_VERSIONS_READ = {
  actions: READ,
  resources: ['<TablesModelVersions.Arn>', '<TablesModelVersions.Arn>/index/ByStatus'],
};

/**
 * Renders an EventBridge input transformer for `event` as EventBridge does: an unquoted `<key>` becomes the JSON
 * value, a `<key>` inside a string literal the value's text.
 */
function renderInput(
  target: { InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string } },
  event: object,
): unknown {
  const at = (jsonPath: string) =>
    jsonPath
      .replace(/^\$\.?/, '')
      .split('.')
      .filter((p) => p !== '')
      .reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], event);
  let text = target.InputTransformer.InputTemplate;
  for (const [key, jsonPath] of Object.entries(target.InputTransformer.InputPathsMap)) {
    const value = at(jsonPath);
    text = text.replace(new RegExp(`(?<=[:\\[,])<${key}>(?=[,}\\]])`, 'g'), JSON.stringify(value));
    text = text.replaceAll(`<${key}>`, JSON.stringify(String(value)).slice(1, -1));
  }
  return JSON.parse(text);
}

function rule(prefix: string) {
  const id = logicalIdOf(synth.template, 'AWS::Events::Rule', prefix);
  return resources[id]!.Properties as {
    EventPattern?: Record<string, unknown>;
    ScheduleExpression?: string;
    Targets: {
      Arn: unknown;
      RoleArn: unknown;
      DeadLetterConfig: unknown;
      RetryPolicy: unknown;
      InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string };
    }[];
  };
}

/** The stored pattern with its intrinsics resolved the way a deployed rule sees them (alarm ARNs by logical id). */
function deployedPattern(pattern: Record<string, unknown>): object {
  return JSON.parse(
    JSON.stringify(pattern, (_k, x) =>
      typeof x === 'object' && x !== null && 'Fn::GetAtt' in x ? show(x) : x,
    ),
  );
}

describe('RetrainPipeline functions', () => {
  it('creates one function per wiring row with its settings and tables bound, and no other variable', () => {
    for (const row of RETRAIN_WORKFLOW.functions) {
      const id = logicalIdOf(synth.template, 'AWS::Lambda::Function', `Retrain${row.id}Function`);
      const props = resources[id]!.Properties as {
        Timeout: number;
        MemorySize: number;
        ReservedConcurrentExecutions: number;
        Environment: { Variables: Record<string, unknown> };
      };
      expect(props, row.id).toMatchObject({
        Timeout: row.timeoutSeconds,
        MemorySize: row.memoryMb,
        ReservedConcurrentExecutions: 2,
      });
      const own = Object.keys(props.Environment.Variables).filter(
        (k) => !k.startsWith('POWERTOOLS_') && k !== 'NODE_OPTIONS',
      );
      expect(own.sort(), row.id).toEqual(boundVariableNames(row));
    }
  });

  it('passes the retrain policies of the models with retrain enabled', () => {
    const id = logicalIdOf(synth.template, 'AWS::Lambda::Function', 'RetrainRetrainGuardFunction');
    const env = (resources[id]!.Properties.Environment as { Variables: Record<string, string> }).Variables;
    const policies = JSON.parse(env.RETRAIN_POLICIES!) as Record<string, { training: { image: string } }>;
    expect(Object.keys(policies)).toEqual(['breast-cancer']);
    expect(policies['breast-cancer']!.training.image).toBe(IMAGE);
  });

  it('grants RetrainGuard its retrain state, the routing and version records, and audit appends only', () => {
    expect(statementsOf('RetrainRetrainGuardRolePolicy')).toEqual([
      ...fnBase('RetrainGuard'),
      { actions: WRITE, resources: ['<TablesMonitorState.Arn>'] },
      KMS_WRITE_DDB,
      { actions: READ, resources: ['<TablesDeployments.Arn>'] },
      KMS_READ_DDB,
      MODEL_VERSIONS_READ,
      { actions: ['dynamodb:PutItem'], resources: ['<TablesAuditLog.Arn>'] },
    ]);
  });

  it('grants PrepareTrainingData models/ and capture/<model>/ reads, training/ writes and the prediction log', () => {
    expect(statementsOf('RetrainPrepareTrainingDataRolePolicy')).toEqual([
      ...fnBase('PrepareTrainingData'),
      { actions: ['s3:GetObject'], resources: ['<RegistryBucket.Arn>/models/*'] },
      KMS_READ_S3,
      { actions: ['s3:PutObject'], resources: ['<RegistryBucket.Arn>/training/*'] },
      KMS_WRITE_S3,
      // Only the capture prefix of the model that retrains.
      { actions: ['s3:GetObject'], resources: ['<RegistryBucket.Arn>/capture/breast-cancer/*'] },
      {
        actions: ['s3:ListBucket'],
        resources: ['<RegistryBucket.Arn>'],
        condition: { StringLike: { 's3:prefix': ['capture/breast-cancer/*'] } },
      },
      MODEL_VERSIONS_READ,
      KMS_READ_DDB,
      { actions: READ, resources: ['<TablesPredictionLog.Arn>'] },
    ]);
  });

  it('grants PackageRetrained training/ reads and lists, models/ reads and incoming/ uploads, and no table', () => {
    expect(statementsOf('RetrainPackageRetrainedRolePolicy')).toEqual([
      ...fnBase('PackageRetrained'),
      { actions: ['s3:GetObject'], resources: ['<RegistryBucket.Arn>/models/*'] },
      KMS_READ_S3,
      { actions: ['s3:GetObject'], resources: ['<RegistryBucket.Arn>/training/*'] },
      {
        actions: ['s3:ListBucket'],
        resources: ['<RegistryBucket.Arn>'],
        condition: { StringLike: { 's3:prefix': ['training/*'] } },
      },
      { actions: ['s3:PutObject'], resources: ['<RegistryBucket.Arn>/incoming/*'] },
      KMS_WRITE_S3,
    ]);
  });

  it('grants ChampionGate and RecordRetrainOutcome only their tables', () => {
    expect(statementsOf('RetrainChampionGateRolePolicy')).toEqual([
      ...fnBase('ChampionGate'),
      { actions: READ, resources: ['<TablesDeployments.Arn>'] },
      KMS_READ_DDB,
      MODEL_VERSIONS_READ,
      { actions: ['dynamodb:PutItem'], resources: ['<TablesAuditLog.Arn>'] },
      KMS_WRITE_DDB,
    ]);
    expect(statementsOf('RetrainRecordRetrainOutcomeRolePolicy')).toEqual([
      ...fnBase('RecordRetrainOutcome'),
      { actions: WRITE, resources: ['<TablesMonitorState.Arn>'] },
      KMS_WRITE_DDB,
      { actions: READ, resources: ['<TablesDeployments.Arn>'] },
      KMS_READ_DDB,
      { actions: ['dynamodb:PutItem'], resources: ['<TablesAuditLog.Arn>'] },
    ]);
  });
});

describe('retrain-failed alarm', () => {
  it('alarms on RetrainsFailed {Model} of each retraining model, as a ticket on the alarm topic', () => {
    const alarms = Object.values(resources).filter(
      (r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.MetricName === 'RetrainsFailed',
    );
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) {
      expect(alarm.Properties).toMatchObject({
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        Dimensions: [{ Name: 'Model', Value: expect.any(String) }],
      });
      expect(String(alarm.Properties.AlarmName)).toMatch(/-retrain-failed$/);
    }
  });
});

describe('RetrainPipeline state machine', () => {
  it('is STANDARD with ALL logging to a KMS-encrypted, retained log group and tracing', () => {
    const id = logicalIdOf(synth.template, 'AWS::StepFunctions::StateMachine', 'RetrainStateMachine');
    expect(resources[id]!.Properties).toMatchObject({
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true },
    });
    const logGroup =
      resources[logicalIdOf(synth.template, 'AWS::Logs::LogGroup', 'RetrainStateMachineLogGroup')]!;
    expect(logGroup).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        RetentionInDays: 30,
        KmsKeyId: { 'Fn::GetAtt': [expect.stringMatching(/^LogsKey/), 'Arn'] },
      },
    });
  });

  it('substitutes every placeholder of the ASL file: the row functions, bucket, key, training role, release', () => {
    const id = logicalIdOf(synth.template, 'AWS::StepFunctions::StateMachine', 'RetrainStateMachine');
    const substitutions = resources[id]!.Properties.DefinitionSubstitutions as Record<string, unknown>;
    const placeholders = new Set(
      [...fs.readFileSync(RETRAIN_ASL_PATH, 'utf8').matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]),
    );
    expect(new Set(Object.keys(substitutions))).toEqual(placeholders);
    expect(Object.fromEntries(Object.entries(substitutions).map(([k, v]) => [k, show(v)]))).toEqual({
      ...Object.fromEntries(
        RETRAIN_WORKFLOW.functions.map((row) => [
          functionArnPlaceholder(row),
          `<Retrain${row.id}Function.Arn>`,
        ]),
      ),
      RegistryBucketName: '<RegistryBucket>',
      RegistryKeyArn: '<RegistryKey.Arn>',
      TrainingRoleArn: '<RetrainTrainingRole.Arn>',
      ReleaseStateMachineArn: '<ReleaseStateMachine>',
    });
  });

  it('lets its role invoke the row functions, run training jobs named by the guard, pass the training role to SageMaker and run the release (documented .sync policies)', () => {
    expect(statementsOf('RetrainStateMachineRolePolicy')).toEqual([
      {
        actions: ['lambda:InvokeFunction'],
        resources: RETRAIN_WORKFLOW.functions.map((row) => `<Retrain${row.id}Function.Arn>`),
      },
      {
        actions: [
          'sagemaker:CreateTrainingJob',
          'sagemaker:DescribeTrainingJob',
          'sagemaker:StopTrainingJob',
        ],
        resources: [`${ARN}:sagemaker:${REGION_ACCOUNT}:training-job/breast-cancer-*`],
      },
      // Documented for createTrainingJob.sync; ListTags has no resource-level permissions.
      { actions: ['sagemaker:ListTags'], resources: ['*'] },
      {
        actions: ['iam:PassRole'],
        resources: ['<RetrainTrainingRole.Arn>'],
        condition: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      },
      { actions: ['states:StartExecution'], resources: ['<ReleaseStateMachine>'] },
      {
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: [`${ARN}:states:${REGION_ACCOUNT}:execution:<ReleaseStateMachine.Name>:*`],
      },
      {
        actions: ['events:DescribeRule', 'events:PutRule', 'events:PutTargets'],
        resources: [
          `${ARN}:events:${REGION_ACCOUNT}:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule`,
          `${ARN}:events:${REGION_ACCOUNT}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`,
        ],
      },
      // Added by CDK for logging and tracing: no resource-level permissions.
      {
        actions: [
          'logs:CreateLogDelivery',
          'logs:DeleteLogDelivery',
          'logs:DescribeLogGroups',
          'logs:DescribeResourcePolicies',
          'logs:GetLogDelivery',
          'logs:ListLogDeliveries',
          'logs:PutResourcePolicy',
          'logs:UpdateLogDelivery',
        ],
        resources: ['*'],
      },
      {
        actions: [
          'xray:GetSamplingRules',
          'xray:GetSamplingTargets',
          'xray:PutTelemetryRecords',
          'xray:PutTraceSegments',
        ],
        resources: ['*'],
      },
    ]);
  });
});

describe('RetrainPipeline training role', () => {
  it("is assumed by SageMaker only, for this account's retrain training jobs (confused-deputy protection)", () => {
    const id = logicalIdOf(synth.template, 'AWS::IAM::Role', 'RetrainTrainingRole');
    expect(resources[id]!.Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'sagemaker.amazonaws.com' },
          Condition: {
            StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            ArnLike: { 'aws:SourceArn': [sageMakerArnPattern('training-job', 'breast-cancer-')] },
          },
        },
      ],
    });
    expect(resources[id]!.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it("reads the run's data and the parent manifest, writes the run's output, pulls the configured image, writes its logs", () => {
    const logs = `${ARN}:logs:${REGION_ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs`;
    expect(statementsOf('RetrainTrainingRolePolicy')).toEqual([
      { actions: ['s3:GetObject'], resources: ['<RegistryBucket.Arn>/training/breast-cancer/*/data/*'] },
      KMS_READ_S3,
      { actions: ['s3:GetObject'], resources: ['<RegistryBucket.Arn>/models/breast-cancer/*/manifest.json'] },
      { actions: ['s3:PutObject'], resources: ['<RegistryBucket.Arn>/training/breast-cancer/*/output/*'] },
      KMS_WRITE_S3,
      {
        actions: ['s3:ListBucket'],
        resources: ['<RegistryBucket.Arn>'],
        condition: {
          StringLike: {
            's3:prefix': ['training/breast-cancer/*/data/*', 'models/breast-cancer/*/manifest.json'],
          },
        },
      },
      {
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        resources: [`${ARN}:ecr:eu-west-1:123456789012:repository/trainer`],
      },
      // GetAuthorizationToken supports no resource-level permissions.
      { actions: ['ecr:GetAuthorizationToken'], resources: ['*'] },
      { actions: ['logs:CreateLogGroup', 'logs:DescribeLogStreams'], resources: [`${logs}:*`] },
      {
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [`${logs}:log-stream:breast-cancer-*`],
      },
      {
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        condition: { StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/TrainingJobs' } },
      },
    ]);
  });

  it('derives the repository ARN from the image URI', () => {
    const stack = testStack();
    expect(
      stack.resolve(
        ecrRepositoryArn(
          `123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/trainer@sha256:${'a'.repeat(64)}`,
        ),
      ),
    ).toEqual({
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':ecr:eu-west-1:123456789012:repository/team/trainer'],
      ],
    });
    expect(ecrRepositoryArn('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/trainer:1')).toBe(
      'arn:aws-cn:ecr:cn-north-1:123456789012:repository/trainer',
    );
    expect(() => ecrRepositoryArn('docker.io/library/python:3')).toThrow(
      /trainingImage must be an ECR image URI.*docker\.io/,
    );
  });
});

/** A ModelDriftDetected event as the drift monitor publishes it (lambdas/core/drift-monitor.ts). */
const DRIFT_EVENT = {
  id: 'ev-1',
  source: 'modelops',
  'detail-type': 'ModelDriftDetected',
  time: '2026-01-01T01:00:00Z',
  detail: {
    eventId: 'breast-cancer#1.0.0#2026-01-01T00:00:00.000Z',
    model: 'breast-cancer',
    version: '1.0.0',
    windowStart: '2026-01-01T00:00:00.000Z',
    windowEnd: '2026-01-01T01:00:00.000Z',
    liveCount: 500,
    share: 0.6,
    driftedFeatures: ['mean radius'],
    features: [{ feature: 'mean radius', jsDistance: 0.3, psi: 0.4, drifted: true, liveCount: 500 }],
    persistence: { m: 3, n: 5, recent: [true, true, true] },
  },
};

describe('RetrainPipeline triggers', () => {
  it('starts a drift retrain of the model from its ModelDriftDetected event, with the event as evidence', () => {
    const drift = rule('RetrainBreastCancerDriftDetected');
    expect(matchesEventPattern(drift.EventPattern!, DRIFT_EVENT)).toBe(true);
    expect(
      matchesEventPattern(drift.EventPattern!, {
        ...DRIFT_EVENT,
        detail: { ...DRIFT_EVENT.detail, model: 'credit-risk' },
      }),
    ).toBe(false);
    const input = renderInput(drift.Targets[0]!, DRIFT_EVENT);
    expect(input).toEqual({
      model: 'breast-cancer',
      trigger: 'drift',
      reason:
        'ModelDriftDetected on 1.0.0: share 0.6 of features drifted in the window ending 2026-01-01T01:00:00.000Z',
      evidence: DRIFT_EVENT.detail,
      eventId: DRIFT_EVENT.detail.eventId,
    });
    // The documented start input: the guard accepts it.
    expect(parseRetrainStart(input, ['breast-cancer'])).toMatchObject({
      model: 'breast-cancer',
      trigger: 'drift',
    });
  });

  it("starts a scheduled retrain on the model's schedule", () => {
    const scheduled = rule('RetrainBreastCancerSchedule');
    expect(scheduled.ScheduleExpression).toBe('rate(7 days)');
    const input = renderInput(scheduled.Targets[0]!, {
      id: 'ev-2',
      time: '2026-01-08T00:00:00Z',
      detail: {},
    });
    expect(input).toEqual({
      model: 'breast-cancer',
      trigger: 'schedule',
      reason: 'scheduled retrain (models[].retrain.schedule rate(7 days))',
      evidence: { schedule: 'rate(7 days)', time: '2026-01-08T00:00:00Z' },
      eventId: 'ev-2',
    });
    expect(parseRetrainStart(input, ['breast-cancer']).trigger).toBe('schedule');
  });

  it("starts an accuracy retrain when the model's accuracy alarm enters ALARM", () => {
    const accuracy = rule('RetrainBreastCancerAccuracyAlarm');
    const alarmId = logicalIdOf(synth.template, 'AWS::CloudWatch::Alarm', 'BreastCancerAlarmsaccuracyfloor');
    const alarmName = resources[alarmId]!.Properties.AlarmName as string;
    expect(alarmName).toBe('modelops-test-breast-cancer-accuracy-floor');
    const event = {
      id: 'ev-3',
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      resources: ['<BreastCancerAlarmsaccuracyfloor.Arn>'],
      detail: {
        alarmName,
        state: {
          value: 'ALARM',
          reason: 'Threshold Crossed: 1 datapoint [0.8] was less than 0.9',
          timestamp: '2026-01-02T00:00:00.000+0000',
        },
        previousState: { value: 'OK' },
      },
    };
    const pattern = deployedPattern(accuracy.EventPattern!);
    expect(matchesEventPattern(pattern, event)).toBe(true);
    expect(
      matchesEventPattern(pattern, {
        ...event,
        detail: { ...event.detail, state: { ...event.detail.state, value: 'OK' } },
      }),
    ).toBe(false);
    expect(
      matchesEventPattern(pattern, { ...event, resources: ['<CreditRiskAlarmsaccuracyfloor.Arn>'] }),
    ).toBe(false);
    const input = renderInput(accuracy.Targets[0]!, event);
    expect(input).toEqual({
      model: 'breast-cancer',
      trigger: 'accuracy',
      reason: `accuracy alarm ${alarmName} entered ALARM`,
      evidence: { alarmName, reason: event.detail.state.reason, timestamp: event.detail.state.timestamp },
      eventId: 'ev-3',
    });
    expect(parseRetrainStart(input, ['breast-cancer']).trigger).toBe('accuracy');
  });

  it('creates no trigger for a model without retrain', () => {
    const ids = Object.keys(synth.template.findResources('AWS::Events::Rule'));
    expect(ids.filter((id) => id.startsWith('RetrainCreditRisk'))).toEqual([]);
    expect(
      ids
        .filter((id) => id.startsWith('Retrain'))
        .map((id) => id.replace(/[0-9A-F]{8}$/, ''))
        .sort(),
    ).toEqual([
      'RetrainBreastCancerAccuracyAlarm',
      'RetrainBreastCancerDriftDetected',
      'RetrainBreastCancerSchedule',
    ]);
  });

  it('delivers every trigger through one role that can start this state machine only, retrying into a DLQ', () => {
    for (const prefix of [
      'RetrainBreastCancerDriftDetected',
      'RetrainBreastCancerSchedule',
      'RetrainBreastCancerAccuracyAlarm',
    ]) {
      const [target] = rule(prefix).Targets;
      expect(show(target!.Arn)).toBe('<RetrainStateMachine>');
      expect(show(target!.RoleArn)).toBe('<RetrainTriggerRole.Arn>');
      expect(target!.DeadLetterConfig).toEqual({
        Arn: { 'Fn::GetAtt': [expect.stringMatching(/^RetrainDeadLetterQueue/), 'Arn'] },
      });
      expect(target!.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 7200, MaximumRetryAttempts: 10 });
    }
    expect(statementsOf('RetrainTriggerRolePolicy')).toEqual([
      { actions: ['states:StartExecution'], resources: ['<RetrainStateMachine>'] },
    ]);
    const roleId = logicalIdOf(synth.template, 'AWS::IAM::Role', 'RetrainTriggerRole');
    expect(resources[roleId]!.Properties.AssumeRolePolicyDocument).toMatchObject({
      Statement: [{ Principal: { Service: 'events.amazonaws.com' } }],
    });
  });
});

describe('RetrainPipeline alarms', () => {
  it('alarms on failed or timed-out executions to the alarm topic', () => {
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('^A retrain execution failed'),
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlarmTopic') }],
      Metrics: Match.arrayWith([
        Match.objectLike({
          Id: 'failed',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'ExecutionsFailed', Namespace: 'AWS/States' }),
          }),
        }),
        Match.objectLike({
          Id: 'timedOut',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'ExecutionsTimedOut', Namespace: 'AWS/States' }),
          }),
        }),
      ]),
    });
  });

  it('alarms while a trigger sits in the dead-letter queue', () => {
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('^A retrain trigger'),
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^RetrainDeadLetterQueue'), 'QueueName'] },
        },
      ],
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlarmTopic') }],
    });
  });
});

describe('RetrainPipeline in the stack', () => {
  it('outputs the retrain state machine ARN', () => {
    synth.template.hasOutput(OPTIONAL_STACK_OUTPUTS.retrainStateMachineArn, {
      Value: { Ref: Match.stringLikeRegexp('^RetrainStateMachine') },
    });
  });

  it('retains its data: log groups and the dead-letter queue stay, nothing of the registry is created here', () => {
    for (const [id, r] of Object.entries(resources)) {
      if (id.startsWith('Retrain') && r.Type === 'AWS::Logs::LogGroup')
        expect(r.DeletionPolicy, id).toBe('Retain');
    }
    expect(
      Object.entries(resources).filter(
        ([id, r]) =>
          id.startsWith('Retrain') &&
          ['AWS::S3::Bucket', 'AWS::DynamoDB::Table', 'AWS::KMS::Key'].includes(r.Type),
      ),
    ).toEqual([]);
  });

  it('passes cdk-nag (AwsSolutions and NIST 800-53 R5) with every acknowledgement reasoned', () => {
    const report = JSON.parse(
      fs.readFileSync(path.join(synth.assembly.directory, 'validation-report.json'), 'utf8'),
    ) as {
      pluginReports: {
        pluginName: string;
        violations: { ruleName: string }[];
        suppressedViolations?: { ruleName: string; reason: string; violatingConstructs?: unknown }[];
      }[];
    };
    const packs = report.pluginReports.filter((r) =>
      ['AwsSolutions', 'NIST.800.53.R5'].includes(r.pluginName),
    );
    expect(packs).toHaveLength(2);
    expect(packs.flatMap((r) => r.violations.map((v) => v.ruleName))).toEqual([]);
    for (const a of packs.flatMap((r) => r.suppressedViolations ?? []))
      expect(a.reason.length, a.ruleName).toBeGreaterThan(60);
  });

  it('is not created when no model has retrain enabled', () => {
    const plain = synthApp(TEST_CONFIG);
    try {
      const ids = Object.keys(plain.template.toJSON().Resources as object);
      expect(ids.filter((id) => id.startsWith('Retrain'))).toEqual([]);
      expect(Object.keys(plain.template.findOutputs(OPTIONAL_STACK_OUTPUTS.retrainStateMachineArn))).toEqual(
        [],
      );
    } finally {
      plain.cleanup();
    }
  });

  it('refuses a model that retrains without a SageMaker trainer', () => {
    const models = RETRAIN_CONFIG.models!;
    const local = {
      ...RETRAIN_CONFIG,
      models: [
        { ...models[0]!, retrain: { ...models[0]!.retrain, trainer: { command: ['python3', 'train.py'] } } },
        models[1]!,
      ],
    } as ModelOpsConfigInput;
    expect(() => synthApp(local)).toThrow(
      /"breast-cancer" has retrain.enabled but no retrain.trainer.sagemaker/,
    );
  });
});

describe('RetrainPipeline validation', () => {
  function props(overrides: Partial<RetrainPipelineProps> = {}): {
    stack: ReturnType<typeof testStack>;
    props: RetrainPipelineProps;
  } {
    const stack = testStack();
    const registry = new ArtifactRegistry(stack, 'Registry', {
      noncurrentVersionExpirationDays: 30,
      incomingExpirationDays: 7,
      accessLogDays: 30,
    });
    const tables = new MetadataTables(stack, 'Tables', {});
    const release = new ReleasePipeline(stack, 'Release', {
      registry,
      tables,
      maxArtifactBytes: 1000,
      configuredModels: ['m'],
      metricsNamespace: 'ns',
      logRetention: 30,
    });
    return {
      stack,
      props: {
        registry,
        tables,
        releaseStateMachine: release.stateMachine,
        models: [{ name: 'm', trainingImage: IMAGE }],
        retrainPolicies: '{}',
        metricsNamespace: 'ns',
        logRetention: 30,
        ...overrides,
      },
    };
  }

  it('builds with the minimal props (no schedule, no accuracy alarm, no topic)', () => {
    const { stack, props: p } = props();
    const pipeline = new RetrainPipeline(stack, 'Retrain', p);
    expect(Object.keys(pipeline.triggers)).toEqual(['MDriftDetected']);
  });

  it.each([
    [{ models: [] }, /models must list at least one model with retrain.enabled, got \[\]/],
    [
      { models: [{ name: 'Bad_Name', trainingImage: IMAGE }] },
      /models\[\]\.name must be a model name.*"Bad_Name"/,
    ],
    [
      {
        models: [
          { name: 'm', trainingImage: IMAGE },
          { name: 'm', trainingImage: IMAGE },
        ],
      },
      /"m" is listed twice/,
    ],
    [
      { models: [{ name: 'm', trainingImage: 'python:3' }] },
      /trainingImage must be an ECR image URI.*"python:3"/,
    ],
    [
      { models: [{ name: 'm', trainingImage: IMAGE, schedule: 'rate(1 days)' }] },
      /rate\(1 days\).*write rate\(1 day\)/,
    ],
    [{ models: [{ name: 'm', trainingImage: IMAGE, schedule: 'rate(2 hour)' }] }, /write rate\(2 hours\)/],
    [
      { models: [{ name: 'm', trainingImage: IMAGE, schedule: 'weekly' }] },
      /schedule must be rate\(.*"weekly"/,
    ],
    [{ reservedConcurrency: 0 }, /reservedConcurrency must be a whole number >= 1, got 0/],
    [
      { maxEventAge: Duration.seconds(10) },
      /maxEventAge must be between 1 minute and 24 hours, got 10 seconds/,
    ],
  ] as [Partial<RetrainPipelineProps>, RegExp][])('rejects %o', (overrides, message) => {
    const { stack, props: p } = props(overrides);
    expect(() => new RetrainPipeline(stack, 'Retrain', p)).toThrow(message);
  });
});

describe('RetrainPipeline as `cdk synth` builds it', () => {
  it('bundles every retrain handler and passes CDK template validation', () => {
    // GIVEN the synthesis with functions bundled and templates validated, as security.test.ts does for the stack
    const bundled = synthApp(RETRAIN_CONFIG, undefined, { bundling: true, cloudFormationValidation: true });
    try {
      for (const row of RETRAIN_WORKFLOW.functions) {
        const id = logicalIdOf(bundled.template, 'AWS::Lambda::Function', `Retrain${row.id}Function`);
        const code = (bundled.template.toJSON().Resources[id].Properties as { Code: { S3Key: string } }).Code;
        const dir = path.join(bundled.assembly.directory, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
        // THEN each has its bundle and source map staged
        expect(fs.readdirSync(dir).sort(), row.id).toEqual(['index.js', 'index.js.map']);
      }
    } finally {
      bundled.cleanup();
    }
  }, 120_000);
});
