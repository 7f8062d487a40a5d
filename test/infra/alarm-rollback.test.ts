/**
 * AlarmRollback: the rule's event pattern against real CloudWatch alarm events and the alarm names the stack
 * creates, the function's grants and delivery (retries, dead letters), validation, and how the stack creates it (only
 * with a canary somewhere, cdk-nag clean).
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alarmStateChangeEvent } from '../../lambdas/core/alarm-evaluation';
import { ALARM_NAME_PREFIX_ENV, ALARM_ROLLBACK_MODELS_ENV } from '../../lambdas/core/alarm-rollback';
import {
  AlarmRollback,
  candidateAlarmNamePrefixes,
  type AlarmRollbackProps,
} from '../../lib/constructs/alarm-rollback';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { ConstructPropsError } from '../../lib/constructs/modelops-function';
import type { ModelOpsConfigInput } from '../../lib/config';
import { matchesEventPattern } from './event-pattern';
import {
  asArray,
  identityStatements,
  logicalIdOf,
  synthApp,
  TEST_CONFIG,
  testStack,
  type SynthResult,
} from './helpers';

type Json = Record<string, unknown>;

function construct(props: Partial<AlarmRollbackProps> = {}): Template {
  // GIVEN
  const s = testStack('Rollback');
  const tables = new MetadataTables(s, 'Tables');
  // WHEN
  new AlarmRollback(s, 'AlarmRollback', {
    models: ['breast-cancer'],
    alarmNamePrefix: 'modelops-prod',
    deployments: tables.deployments,
    auditLog: tables.auditLog,
    modelVersions: tables.modelVersions,
    metricsNamespace: 'ModelOps',
    logRetention: RetentionDays.ONE_MONTH,
    ...props,
  });
  return Template.fromStack(s);
}

/** A state change event exactly as the local evaluator and CloudWatch shape it. */
function stateChange(alarmName: string, value: 'ALARM' | 'OK' = 'ALARM') {
  return alarmStateChangeEvent({
    alarmName,
    description: 'd',
    state: { id: 'r', value, reason: 'both windows burning' },
    previous: { value: value === 'ALARM' ? 'OK' : 'ALARM', reason: 'before', timeMs: 0 },
    nowMs: Date.parse('2026-06-01T00:00:00Z'),
    eventId: 'e1',
    account: '123456789012',
    region: 'eu-west-1',
  })!;
}

function patternOf(template: Template): object {
  const rules = Object.values(template.findResources('AWS::Events::Rule')).filter(
    (r) => ((r.Properties as Json).EventPattern as Json | undefined)?.source !== undefined,
  );
  const rule = rules.find((r) =>
    JSON.stringify((r.Properties as Json).EventPattern).includes('aws.cloudwatch'),
  );
  return (rule!.Properties as Json).EventPattern as object;
}

describe('AlarmRollback construct', () => {
  const template = construct();
  const pattern = patternOf(template);

  it('matches the composite candidate alarms of the model entering ALARM', () => {
    expect(pattern).toEqual({
      source: ['aws.cloudwatch'],
      'detail-type': ['CloudWatch Alarm State Change'],
      detail: {
        alarmName: [{ prefix: 'modelops-prod-breast-cancer-candidate-' }],
        state: { value: ['ALARM'] },
      },
    });
    for (const rule of ['candidate-errors-page-1h', 'candidate-latency-page-1h']) {
      expect(matchesEventPattern(pattern, stateChange(`modelops-prod-breast-cancer-${rule}`))).toBe(true);
    }
  });

  it.each([
    ['an SLO burn alarm', 'modelops-prod-breast-cancer-availability-burn-page-1h', 'ALARM'],
    ['the drift alarm', 'modelops-prod-breast-cancer-drift', 'ALARM'],
    ['another model', 'modelops-prod-credit-risk-candidate-errors-page-1h', 'ALARM'],
    ['another stage', 'modelops-staging-breast-cancer-candidate-errors-page-1h', 'ALARM'],
    ['a return to OK', 'modelops-prod-breast-cancer-candidate-errors-page-1h', 'OK'],
  ] as const)('does not match %s', (_what, name, value) => {
    expect(matchesEventPattern(pattern, stateChange(name, value))).toBe(false);
  });

  it('does not match an event from another source with the same detail', () => {
    const event = {
      ...stateChange('modelops-prod-breast-cancer-candidate-errors-page-1h'),
      source: 'custom',
    };
    expect(matchesEventPattern(pattern, event)).toBe(false);
  });

  it('invokes the function with the event as is, retrying and dead-lettering deliveries', () => {
    const fnId = logicalIdOf(template, 'AWS::Lambda::Function', 'AlarmRollbackFunction');
    const queueId = logicalIdOf(template, 'AWS::SQS::Queue', 'AlarmRollbackDeadLetterQueue');
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [fnId, 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 7200 },
        }),
      ],
    });
    const [rule] = Object.values(template.findResources('AWS::Events::Rule'));
    const target = ((rule!.Properties as Json).Targets as Json[])[0]!;
    expect(target.Input ?? target.InputTransformer ?? target.InputPath).toBeUndefined();
    // Failed invocations: two retries, then the same queue, with the error.
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 7200,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 1,
    });
  });

  it('configures the function with the prefix and models and a concurrency reservation', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 2,
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'alarm-rollback',
          [ALARM_NAME_PREFIX_ENV]: 'modelops-prod',
          [ALARM_ROLLBACK_MODELS_ENV]: 'breast-cancer',
          DEPLOYMENTS_TABLE: Match.anyValue(),
          AUDIT_LOG_TABLE: Match.anyValue(),
          MODEL_VERSIONS_TABLE: Match.anyValue(),
        }),
      },
    });
  });

  it('grants read-and-replace on Deployments, append on the AuditLog, in-place updates on ModelVersions, send to its queue, nothing else', () => {
    const name = (r: unknown): string => {
      const json = JSON.stringify(r);
      return /"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]/.exec(json)?.[1] ?? json;
    };
    const lines = identityStatements(template)
      .filter((s) => s.logicalId.startsWith('AlarmRollbackFunctionRolePolicy'))
      .flatMap((s) =>
        asArray(s.statement.Resource as unknown[]).map(
          (r) => `${asArray(s.statement.Action).join(',')} -> ${name(r)}`,
        ),
      )
      .filter((l) => !l.startsWith('logs:') && !l.startsWith('xray:'));
    expect(lines.sort()).toEqual(
      [
        `dynamodb:GetItem,dynamodb:PutItem -> ${logicalIdOf(template, 'AWS::DynamoDB::Table', 'TablesDeployments')}`,
        `dynamodb:PutItem -> ${logicalIdOf(template, 'AWS::DynamoDB::Table', 'TablesAuditLog')}`,
        // The rolled-back candidate's stage, an attribute of its version item: changed in place, never replaced.
        `dynamodb:GetItem,dynamodb:UpdateItem -> ${logicalIdOf(template, 'AWS::DynamoDB::Table', 'TablesModelVersions')}`,
        // The tables share the metadata key; usable only through DynamoDB (kms:ViaService).
        `kms:Decrypt,kms:Encrypt,kms:GenerateDataKey -> ${logicalIdOf(template, 'AWS::KMS::Key', 'TablesKey')}`,
        // SqsDestination's grant: send, plus the two reads Lambda needs to resolve the queue.
        `sqs:SendMessage,sqs:GetQueueAttributes,sqs:GetQueueUrl -> ${logicalIdOf(template, 'AWS::SQS::Queue', 'AlarmRollbackDeadLetterQueue')}`,
      ].sort(),
    );
  });

  it('gives one prefix per model', () => {
    expect(candidateAlarmNamePrefixes('p-s', ['a', 'b-c'])).toEqual([
      'p-s-a-candidate-',
      'p-s-b-c-candidate-',
    ]);
    const two = patternOf(construct({ models: ['breast-cancer', 'credit-risk'] })) as {
      detail: { alarmName: unknown };
    };
    expect(two.detail.alarmName).toEqual([
      { prefix: 'modelops-prod-breast-cancer-candidate-' },
      { prefix: 'modelops-prod-credit-risk-candidate-' },
    ]);
  });

  it('rejects no models, a bad model name, a bad event age and a pattern over the EventBridge limit', () => {
    expect(() => construct({ models: [] })).toThrow(ConstructPropsError);
    expect(() => construct({ models: [] })).toThrow(
      /models must list at least one model with canary.enabled/,
    );
    expect(() => construct({ models: ['Bad Name'] })).toThrow(
      /models entries must be model names.*"Bad Name"/,
    );
    expect(() => construct({ alarmNamePrefix: ' ' })).toThrow(/alarmNamePrefix must be/);
    expect(() => construct({ reservedConcurrency: 0 })).toThrow(
      /reservedConcurrency must be a whole number >= 1, got 0/,
    );
    const many = Array.from({ length: 60 }, (_, i) => `model-number-${i}`);
    expect(() => construct({ models: many })).toThrow(/event pattern for 60 models takes \d+ characters/);
  });
});

describe('ModelOpsStack alarm rollback', () => {
  const CANARY_CONFIG: ModelOpsConfigInput = {
    ...TEST_CONFIG,
    models: [
      { name: 'breast-cancer', owner: 'ml-platform', canary: { enabled: true } },
      { name: 'credit-risk', owner: 'ml-platform' },
    ],
  };
  let synth: SynthResult;
  let plain: SynthResult;
  beforeAll(() => {
    // synthApp runs cdk-nag (AwsSolutions + NIST 800-53 R5): an unacknowledged finding fails synthesis.
    synth = synthApp(CANARY_CONFIG);
    plain = synthApp(TEST_CONFIG);
  });
  afterAll(() => {
    synth?.cleanup();
    plain?.cleanup();
  });

  it('is created for the models with a canary only, cdk-nag clean', () => {
    expect(synth.stack.alarmRollback?.models).toEqual(['breast-cancer']);
    expect(plain.stack.alarmRollback).toBeUndefined();
    expect(JSON.stringify(plain.template.toJSON())).not.toContain('alarm-rollback');
  });

  it("matches exactly the candidate composites among every alarm the stack creates, by the stack's names", () => {
    const pattern = patternOf(synth.template);
    const names = [
      ...Object.values(synth.template.findResources('AWS::CloudWatch::Alarm')),
      ...Object.values(synth.template.findResources('AWS::CloudWatch::CompositeAlarm')),
    ]
      .map((a) => (a.Properties as Json).AlarmName)
      .filter((n): n is string => typeof n === 'string');
    expect(names.length).toBeGreaterThan(20);
    const matched = names.filter((n) => matchesEventPattern(pattern, stateChange(n)));
    // The composites act; their window alarms are delivered too and ignored by the function (WINDOW_ALARM).
    expect(matched.sort()).toEqual(
      [
        'modelops-test-breast-cancer-candidate-errors-page-1h',
        'modelops-test-breast-cancer-candidate-errors-page-1h-long',
        'modelops-test-breast-cancer-candidate-errors-page-1h-short',
        'modelops-test-breast-cancer-candidate-latency-page-1h',
        'modelops-test-breast-cancer-candidate-latency-page-1h-long',
        'modelops-test-breast-cancer-candidate-latency-page-1h-short',
      ].sort(),
    );
  });

  it('shows the function and its dead-letter queue on the fleet dashboard', () => {
    const body = JSON.stringify(synth.template.findResources('AWS::CloudWatch::Dashboard'));
    expect(body).toContain(logicalIdOf(synth.template, 'AWS::SQS::Queue', 'AlarmRollbackDeadLetterQueue'));
    expect(body).toContain(logicalIdOf(synth.template, 'AWS::Lambda::Function', 'AlarmRollbackFunction'));
  });
});
