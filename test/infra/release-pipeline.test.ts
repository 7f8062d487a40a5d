import * as fs from 'node:fs';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_OBJECT_LOCK } from '../../lib/config';
import { RELEASE_ASL_PATH } from '../../lib/constructs/release-pipeline';
import { STACK_OUTPUTS } from '../../lib/stacks/modelops-stack';
import { RELEASE_WORKFLOW } from '../../lib/workflows/release';
import { boundVariableNames, functionArnPlaceholder } from '../../lib/workflows/types';
import { TRIGGER_CASES } from '../fixtures/release-trigger-keys';
import { matchesEventPattern } from './event-pattern';
import { logicalIdOf, synthApp, TEST_CONFIG } from './helpers';
import type { SynthResult } from './helpers';

let synth: SynthResult;
beforeAll(() => {
  synth = synthApp();
});
afterAll(() => synth.cleanup());

const FUNCTIONS = [
  'ValidateArtifact',
  'RegisterVersion',
  'RecordRejection',
  'Approval',
  'StartRollout',
  'AnalyzeCanary',
  'AdvanceRollout',
  'DeployCandidate',
] as const;
const ROWS = RELEASE_WORKFLOW.functions;

function resource(id: string): { Properties: Record<string, unknown>; DeletionPolicy?: string } {
  return synth.template.toJSON().Resources[id];
}

describe('ReleasePipeline state machine', () => {
  it('is STANDARD with ALL logging to a KMS-encrypted, retained log group and tracing', () => {
    synth.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: true,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Match.anyValue() } }],
      },
    });
    const logGroup = resource(
      logicalIdOf(synth.template, 'AWS::Logs::LogGroup', 'ReleaseStateMachineLogGroup'),
    );
    expect(logGroup).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        RetentionInDays: 30,
        KmsKeyId: { 'Fn::GetAtt': [expect.stringMatching(/^LogsKey/), 'Arn'] },
      },
    });
  });

  it('substitutes every placeholder of the ASL file with a release function ARN', () => {
    // DefinitionBody.fromFile ships the file as an asset; CloudFormation applies DefinitionSubstitutions.
    const sm = resource(
      logicalIdOf(synth.template, 'AWS::StepFunctions::StateMachine', 'ReleaseStateMachine'),
    );
    expect(sm.Properties.DefinitionS3Location).toBeDefined();
    const placeholders = new Set(
      [...fs.readFileSync(RELEASE_ASL_PATH, 'utf8').matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]),
    );
    const substitutions = sm.Properties.DefinitionSubstitutions as Record<string, unknown>;
    expect(new Set(Object.keys(substitutions))).toEqual(placeholders);
    expect(substitutions).toEqual(
      Object.fromEntries(
        ROWS.map((row) => [
          functionArnPlaceholder(row),
          { 'Fn::GetAtt': [expect.stringMatching(new RegExp(`^Release${row.id}Function`)), 'Arn'] },
        ]),
      ),
    );
    // The construct ids are the contract: the rows must keep them.
    expect(ROWS.map((row) => row.id)).toEqual(FUNCTIONS);
  });
});

describe('ReleasePipeline trigger', () => {
  it('matches manifest uploads under incoming/ of the registry bucket', () => {
    synth.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: {
          bucket: { name: [{ Ref: logicalIdOf(synth.template, 'AWS::S3::Bucket', 'RegistryBucket') }] },
          object: { key: [{ wildcard: 'incoming/*/*/manifest.json' }] },
        },
      },
    });
  });

  /** The rule's pattern as synthesized, with the bucket's `Ref` resolved to a name. */
  function rulePattern(bucketName: string): object {
    const rule = Object.entries(synth.template.findResources('AWS::Events::Rule')).find(([id]) =>
      id.includes('ManifestUploaded'),
    )?.[1] as { Properties: { EventPattern: unknown } } | undefined;
    const bucketRef = JSON.stringify({
      Ref: logicalIdOf(synth.template, 'AWS::S3::Bucket', 'RegistryBucket'),
    });
    return JSON.parse(
      JSON.stringify(rule!.Properties.EventPattern).replace(bucketRef, JSON.stringify(bucketName)),
    );
  }

  /** An S3 "Object Created" event as EventBridge receives it (the fields the pattern reads). */
  function objectCreated(bucket: string, key: string) {
    return {
      version: '0',
      source: 'aws.s3',
      'detail-type': 'Object Created',
      detail: { version: '0', bucket: { name: bucket }, object: { key, size: 2 }, reason: 'PutObject' },
    };
  }

  it.each(TRIGGER_CASES)(
    'the synthesized rule: $key starts a release: $startsRelease',
    ({ key, startsRelease }) => {
      expect(matchesEventPattern(rulePattern('registry'), objectCreated('registry', key))).toBe(
        startsRelease,
      );
    },
  );

  it('the synthesized rule ignores manifests in any other bucket', () => {
    const [layout] = TRIGGER_CASES;
    expect(matchesEventPattern(rulePattern('registry'), objectCreated('other', layout!.key))).toBe(false);
  });

  it('starts the state machine with {bucket, key}, retries and dead-letters', () => {
    synth.template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [
        Match.objectLike({
          Arn: {
            Ref: logicalIdOf(synth.template, 'AWS::StepFunctions::StateMachine', 'ReleaseStateMachine'),
          },
          InputTransformer: {
            InputPathsMap: {
              'detail-bucket-name': '$.detail.bucket.name',
              'detail-object-key': '$.detail.object.key',
            },
            InputTemplate: '{"bucket":<detail-bucket-name>,"key":<detail-object-key>}',
          },
          DeadLetterConfig: {
            Arn: {
              'Fn::GetAtt': [logicalIdOf(synth.template, 'AWS::SQS::Queue', 'ReleaseDeadLetterQueue'), 'Arn'],
            },
          },
          RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 7200 },
        }),
      ],
    });
  });

  it("alarms on the dead-letter queue and notifies the stack's alarm topic", () => {
    const queueId = logicalIdOf(synth.template, 'AWS::SQS::Queue', 'ReleaseDeadLetterQueue');
    const alarm = resource(logicalIdOf(synth.template, 'AWS::CloudWatch::Alarm', 'ReleaseDeadLetterAlarm'));
    expect(alarm.Properties).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 1,
    });
    const topicId = Object.keys(synth.template.findResources('AWS::SNS::Topic'))[0]!;
    expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
  });

  it('keeps dead letters 14 days in an encrypted, TLS-only queue', () => {
    synth.template.hasResourceProperties('AWS::SQS::Queue', {
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
    });
    synth.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('ReleasePipeline approval notifications', () => {
  it('forwards ApprovalRequested events from the modelops source to the alarm topic', () => {
    const rule = resource(logicalIdOf(synth.template, 'AWS::Events::Rule', 'ReleaseApprovalRequested'));
    expect(rule.Properties.EventPattern).toEqual({
      source: ['modelops'],
      'detail-type': ['ApprovalRequested'],
    });
    const topicId = Object.keys(synth.template.findResources('AWS::SNS::Topic'))[0]!;
    const targets = rule.Properties.Targets as {
      Arn: unknown;
      InputTransformer?: { InputTemplate: string };
    }[];
    expect(targets).toHaveLength(1);
    expect(targets[0]!.Arn).toEqual({ Ref: topicId });
    expect(targets[0]!.InputTransformer?.InputTemplate).toMatch(/waits for approval until/);
    const matches = (event: object) => matchesEventPattern(rule.Properties.EventPattern as object, event);
    expect(matches({ source: 'modelops', 'detail-type': 'ApprovalRequested', detail: {} })).toBe(true);
    expect(matches({ source: 'modelops', 'detail-type': 'ModelDriftDetected', detail: {} })).toBe(false);
    expect(matches({ source: 'evil', 'detail-type': 'ApprovalRequested', detail: {} })).toBe(false);
  });

  it('notifies the alarm topic when this state machine ends an execution CanaryHeld, and only then', () => {
    const rule = resource(logicalIdOf(synth.template, 'AWS::Events::Rule', 'ReleaseCanaryHeld'));
    const topicId = Object.keys(synth.template.findResources('AWS::SNS::Topic'))[0]!;
    const targets = rule.Properties.Targets as { Arn: unknown }[];
    expect(targets.map((t) => t.Arn)).toEqual([{ Ref: topicId }]);
    const machineId = logicalIdOf(synth.template, 'AWS::StepFunctions::StateMachine', 'ReleaseStateMachine');
    const pattern = JSON.parse(
      JSON.stringify(rule.Properties.EventPattern).replace(JSON.stringify({ Ref: machineId }), '"arn:sm"'),
    ) as object;
    const event = (error: string, status = 'FAILED', stateMachineArn = 'arn:sm') => ({
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      detail: { status, error, stateMachineArn },
    });
    expect(matchesEventPattern(pattern, event('CanaryHeld'))).toBe(true);
    expect(matchesEventPattern(pattern, event('CanaryRolledBack'))).toBe(false);
    expect(matchesEventPattern(pattern, event('CanaryHeld', 'SUCCEEDED'))).toBe(false);
    expect(matchesEventPattern(pattern, event('CanaryHeld', 'FAILED', 'arn:other'))).toBe(false);
  });

  it('lets EventBridge use the alarm topic key, only from this account', () => {
    synth.template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'EventBridgeRulesPublish',
            Principal: { Service: 'events.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Condition: { StringEquals: { 'aws:SourceAccount': Match.anyValue() } },
          }),
        ]),
      },
    });
  });
});

describe('ReleasePipeline functions', () => {
  it.each(FUNCTIONS)('%s runs Node 22 on x86_64 with tracing, its own log group and Powertools env', (fn) => {
    const id = logicalIdOf(synth.template, 'AWS::Lambda::Function', `Release${fn}Function`);
    const props = resource(id).Properties;
    expect(props).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['x86_64'],
      TracingConfig: { Mode: 'Active' },
      ReservedConcurrentExecutions: 5,
      LoggingConfig: { LogGroup: { Ref: expect.stringMatching(new RegExp(`^Release${fn}LogGroup`)) } },
      Environment: {
        Variables: expect.objectContaining({
          POWERTOOLS_METRICS_NAMESPACE: 'ModelOps',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
          // Only the rows that read the registry get its name.
          ...(ROWS.find((r) => r.id === fn)!.settings.some((x) => x === 'registryBucket')
            ? { REGISTRY_BUCKET: { Ref: expect.stringMatching(/^RegistryBucket/) } }
            : {}),
        }),
      },
    });
    const logGroup = resource(logicalIdOf(synth.template, 'AWS::Logs::LogGroup', `Release${fn}LogGroup`));
    expect(logGroup).toMatchObject({ DeletionPolicy: 'Retain', Properties: { RetentionInDays: 30 } });
  });

  it('gives ValidateArtifact 3008 MB, 5 minutes and the ONNX Runtime layer', () => {
    const props = resource(
      logicalIdOf(synth.template, 'AWS::Lambda::Function', 'ReleaseValidateArtifactFunction'),
    ).Properties;
    expect(props).toMatchObject({
      MemorySize: 3008,
      Timeout: 300,
      Layers: [{ Ref: expect.stringMatching(/^OnnxRuntimeLayer/) }],
    });
    synth.template.hasResourceProperties('AWS::Lambda::LayerVersion', {
      CompatibleRuntimes: ['nodejs22.x'],
      CompatibleArchitectures: ['x86_64'],
    });
  });

  it.each(ROWS.map((row) => [row.id, row] as const))(
    '%s has the timeout, memory and environment of its wiring row, nothing more',
    (id, row) => {
      const props = resource(logicalIdOf(synth.template, 'AWS::Lambda::Function', `Release${id}Function`))
        .Properties as {
        Timeout: number;
        MemorySize: number;
        Environment: { Variables: Record<string, unknown> };
      };
      expect(props.Timeout).toBe(row.timeoutSeconds);
      expect(props.MemorySize).toBe(row.memoryMb);
      const common = [
        'NODE_OPTIONS',
        'POWERTOOLS_LOG_LEVEL',
        'POWERTOOLS_METRICS_NAMESPACE',
        'POWERTOOLS_SERVICE_NAME',
      ];
      const bound = Object.keys(props.Environment.Variables)
        .filter((k) => !common.includes(k))
        .sort();
      expect(bound).toEqual([...boundVariableNames(row)].sort());
    },
  );

  it('sets the Object Lock settings of RegisterVersion from config.registry.objectLock (defaults here)', () => {
    const env = (
      resource(logicalIdOf(synth.template, 'AWS::Lambda::Function', 'ReleaseRegisterVersionFunction'))
        .Properties.Environment as { Variables: Record<string, unknown> }
    ).Variables;
    expect(env).toMatchObject({
      MODEL_LOCK_MODE: DEFAULT_OBJECT_LOCK.mode,
      MODEL_LOCK_DAYS: String(DEFAULT_OBJECT_LOCK.days),
    });
  });

  it('sets MODEL_SIGNING_KEY_ID of RegisterVersion to the model signing key ARN', () => {
    const env = (
      resource(logicalIdOf(synth.template, 'AWS::Lambda::Function', 'ReleaseRegisterVersionFunction'))
        .Properties.Environment as { Variables: Record<string, unknown> }
    ).Variables;
    const keyId = logicalIdOf(synth.template, 'AWS::KMS::Key', 'ModelSigningKey');
    expect(env.MODEL_SIGNING_KEY_ID).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
  });

  it('sets the settings of ValidateArtifact from the config', () => {
    const env = (
      resource(logicalIdOf(synth.template, 'AWS::Lambda::Function', 'ReleaseValidateArtifactFunction'))
        .Properties.Environment as { Variables: Record<string, unknown> }
    ).Variables;
    expect(env).toMatchObject({
      MAX_ARTIFACT_BYTES: '1000000',
      CONFIGURED_MODELS: 'breast-cancer,credit-risk',
    });
    // What each handler touches (lambdas/core/validation.ts, registration.ts, rejection.ts); nothing more.
    expect(
      Object.keys(env)
        .filter((k) => k.endsWith('_TABLE'))
        .sort(),
    ).toEqual(['AUDIT_LOG_TABLE', 'DEPLOYMENTS_TABLE', 'MODEL_VERSIONS_TABLE']);
  });
});

describe('ModelOpsStack', () => {
  it('exports the outputs the CLI reads by name', () => {
    const outputs = Object.keys(synth.template.toJSON().Outputs as Record<string, unknown>);
    expect(outputs).toEqual(expect.arrayContaining(Object.values(STACK_OUTPUTS)));
  });

  it('tags resources with project and stage', () => {
    synth.template.hasResourceProperties('AWS::S3::Bucket', {
      Tags: Match.arrayWith([
        { Key: 'project', Value: TEST_CONFIG.project },
        { Key: 'stage', Value: TEST_CONFIG.stage },
      ]),
    });
  });

  it('creates the alarm topic without alarmEmail too, with no subscription', () => {
    synth.template.resourceCountIs('AWS::SNS::Topic', 1);
    synth.template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});
