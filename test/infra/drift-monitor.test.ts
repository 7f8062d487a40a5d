/**
 * DriftMonitor: the scheduled rule and its target, DRIFT_MODELS, exactly the IAM it is granted, and how the stack
 * creates it (only with drift enabled somewhere, on `monitoring.driftScheduleMinutes`).
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriftConfig } from '../../lambdas/core/drift-monitor';
import { DRIFT_MODELS_ENV, driftModelsEnvValue, parseDriftModels } from '../../lambdas/core/drift-schedule';
import { ArtifactRegistry } from '../../lib/constructs/artifact-registry';
import { DriftMonitor, type DriftMonitorProps } from '../../lib/constructs/drift-monitor';
import { LogsKey } from '../../lib/constructs/logs-key';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { ConstructPropsError } from '../../lib/constructs/modelops-function';
import { STACK_OUTPUTS } from '../../lib/stacks/modelops-stack';
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

const DRIFT: DriftConfig = {
  enabled: true,
  windowMinutes: 60,
  minLiveCount: 1000,
  thresholds: { jsDistance: 0.1, psi: 0.2 },
  datasetDriftShare: 0.5,
  persistence: { m: 3, n: 6 },
  cooldownMinutes: 120,
};

function monitor(props: Partial<DriftMonitorProps> = {}): Template {
  // GIVEN
  const s = testStack('Drift');
  const registry = new ArtifactRegistry(s, 'Registry', {
    noncurrentVersionExpirationDays: 1,
    incomingExpirationDays: 1,
    accessLogDays: 1,
  });
  const tables = new MetadataTables(s, 'Tables');
  // WHEN
  new DriftMonitor(s, 'DriftMonitor', {
    models: [
      { name: 'breast-cancer', drift: DRIFT },
      { name: 'credit-risk', drift: { ...DRIFT, enabled: false } },
    ],
    registry,
    tables,
    metricsNamespace: 'ModelOps',
    logRetention: RetentionDays.ONE_MONTH,
    logEncryptionKey: new LogsKey(s, 'LogsKey'),
    ...props,
  });
  return Template.fromStack(s);
}

/** The variables of the drift monitor function (the only one with service name drift-monitor). */
function monitorEnvironment(template: Template): Record<string, unknown> | undefined {
  const fns = Object.values(template.findResources('AWS::Lambda::Function')).map(
    (f) => ((f.Properties as Json).Environment as { Variables: Record<string, unknown> }).Variables,
  );
  return fns.find((v) => v.POWERTOOLS_SERVICE_NAME === 'drift-monitor');
}

/** `actions -> resource` lines of every statement the drift monitor role holds, with logical ids for tokens. */
function grants(template: Template): string[] {
  const name = (r: unknown): string => {
    const json = JSON.stringify(r);
    const getAtt = /^\{"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]\}$/.exec(json);
    if (getAtt) return getAtt[1]!;
    const join = /^\{"Fn::Join":\["",\[\{"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]\},"([^"]+)"\]\]\}$/.exec(
      json,
    );
    if (join) return `${join[1]}${join[2]}`;
    return json;
  };
  return identityStatements(template)
    .filter((s) => s.logicalId.startsWith('DriftMonitorFunctionRolePolicy'))
    .map((s) => {
      expect(s.statement.Effect).toBe('Allow');
      const actions = asArray(s.statement.Action).join(',');
      const resources = asArray(s.statement.Resource as unknown[])
        .map(name)
        .join(' ');
      const condition = s.statement.Condition ? ` if ${JSON.stringify(s.statement.Condition)}` : '';
      return `${actions} -> ${resources}${condition}`;
    });
}

describe('DriftMonitor construct', () => {
  const template = monitor({ scheduleMinutes: 15 });
  const fnId = logicalIdOf(template, 'AWS::Lambda::Function', 'DriftMonitorFunction');

  it('invokes the function on rate(scheduleMinutes), without retrying a failed run', () => {
    const ruleId = logicalIdOf(template, 'AWS::Events::Rule', 'DriftMonitorSchedule');
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [fnId, 'Arn'] },
          RetryPolicy: { MaximumEventAgeInSeconds: 900, MaximumRetryAttempts: 2 },
        }),
      ],
    });
    // The scheduled event itself is the input (its `time` is the end of the judged window).
    const [rule] = Object.values(template.findResources('AWS::Events::Rule'));
    const target = ((rule!.Properties as Json).Targets as Json[])[0]!;
    expect(target.Input ?? target.InputTransformer ?? target.InputPath).toBeUndefined();
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 900,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 1,
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'drift-monitor' }) },
    });
  });

  it('writes the drift-enabled models, and only them, to DRIFT_MODELS, plus the tables and bucket it reads', () => {
    const env = monitorEnvironment(template)!;
    expect(env[DRIFT_MODELS_ENV]).toBe(driftModelsEnvValue([{ name: 'breast-cancer', drift: DRIFT }]));
    expect(parseDriftModels(env[DRIFT_MODELS_ENV] as string)).toEqual([
      { name: 'breast-cancer', drift: DRIFT },
    ]);
    expect(Object.keys(env).sort()).toEqual(
      [
        'AUDIT_LOG_TABLE',
        'DEPLOYMENTS_TABLE',
        'DRIFT_COUNTERS_TABLE',
        DRIFT_MODELS_ENV,
        'MODEL_VERSIONS_TABLE',
        'MONITOR_STATE_TABLE',
        'NODE_OPTIONS',
        'POWERTOOLS_LOG_LEVEL',
        'POWERTOOLS_METRICS_NAMESPACE',
        'POWERTOOLS_SERVICE_NAME',
        'REGISTRY_BUCKET',
      ].sort(),
    );
    expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe('ModelOps');
    expect(env.REGISTRY_BUCKET).toEqual({ Ref: logicalIdOf(template, 'AWS::S3::Bucket', 'RegistryBucket') });
  });

  it('grants exactly: reads, its own state, the ledger append, models/ reads and one event type on the default bus', () => {
    const table = (id: string) => logicalIdOf(template, 'AWS::DynamoDB::Table', `Tables${id}`);
    const tablesKey = logicalIdOf(template, 'AWS::KMS::Key', 'TablesKey');
    const registryKey = logicalIdOf(template, 'AWS::KMS::Key', 'RegistryKey');
    const bucket = logicalIdOf(template, 'AWS::S3::Bucket', 'RegistryBucket');
    const logGroup = logicalIdOf(template, 'AWS::Logs::LogGroup', 'DriftMonitorFunctionLogGroup');
    const viaDynamo = JSON.stringify({
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      },
    });
    const viaS3 = JSON.stringify({
      StringEquals: {
        'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
      },
    });
    const defaultBus = JSON.stringify({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':events:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':event-bus/default',
        ],
      ],
    });
    expect(grants(template).sort()).toEqual(
      [
        `logs:CreateLogStream,logs:PutLogEvents -> ${logGroup}`,
        'xray:PutTraceSegments,xray:PutTelemetryRecords -> "*"',
        `dynamodb:GetItem,dynamodb:Query -> ${table('DriftCounters')}`,
        `dynamodb:GetItem,dynamodb:PutItem -> ${table('MonitorState')}`,
        `dynamodb:GetItem,dynamodb:Query -> ${table('Deployments')}`,
        `dynamodb:GetItem,dynamodb:Query -> ${table('ModelVersions')} ${table('ModelVersions')}/index/ByStatus`,
        `dynamodb:PutItem -> ${table('AuditLog')}`,
        // The tables share one key: decrypt for the reads, encrypt too for the two writes (CDK merges duplicates).
        `kms:Decrypt -> ${tablesKey} if ${viaDynamo}`,
        `kms:Decrypt,kms:Encrypt,kms:GenerateDataKey -> ${tablesKey} if ${viaDynamo}`,
        `s3:GetObject -> ${bucket}/models/*`,
        `kms:Decrypt -> ${registryKey} if ${viaS3}`,
        `events:PutEvents -> ${defaultBus} if ${JSON.stringify({
          StringEquals: { 'events:source': ['modelops'], 'events:detail-type': ['ModelDriftDetected'] },
        })}`,
      ].sort(),
    );
  });

  it('logs to its own retained log group, encrypted with the given key', () => {
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: {
        RetentionInDays: 30,
        KmsKeyId: { 'Fn::GetAtt': [logicalIdOf(template, 'AWS::KMS::Key', 'LogsKey'), 'Arn'] },
      },
      DeletionPolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: {
        LogGroup: { Ref: logicalIdOf(template, 'AWS::Logs::LogGroup', 'DriftMonitorFunctionLogGroup') },
      },
      TracingConfig: { Mode: 'Active' },
    });
  });

  it('creates no alarm without an alarm topic', () => {
    monitor().resourceCountIs('AWS::CloudWatch::Alarm', 0);
  });

  it('defaults to a 10-minute schedule', () => {
    monitor().hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(10 minutes)' });
  });

  it.each([0, 1441, 2.5])('refuses scheduleMinutes %s', (scheduleMinutes) => {
    expect(() => monitor({ scheduleMinutes })).toThrow(
      new ConstructPropsError(
        `DriftMonitor: scheduleMinutes must be a whole number of minutes from 1 to 1440, got ${scheduleMinutes}`,
      ),
    );
  });

  it('refuses a model list without drift enabled, and settings too large for the environment', () => {
    expect(() => monitor({ models: [{ name: 'a', drift: { ...DRIFT, enabled: false } }] })).toThrow(
      /DriftMonitor: models must include at least one model with drift.enabled, got \["a"\]/,
    );
    const tuned = Array.from({ length: 40 }, (_, i) => ({
      name: `model-${i}`,
      drift: { ...DRIFT, windowMinutes: 60 + i },
    }));
    expect(() => monitor({ models: tuned })).toThrow(
      /DriftMonitor: the drift settings of 40 models take \d+ bytes of DRIFT_MODELS, above the 3300 bytes/,
    );
  });
});

describe('ModelOpsStack drift monitor', () => {
  let defaults: SynthResult;
  beforeAll(() => {
    // Drift is on by default (models[].drift.enabled).
    defaults = synthApp(TEST_CONFIG);
  });
  afterAll(() => defaults?.cleanup());

  it('monitors every drift-enabled model on the default 10-minute schedule', () => {
    defaults.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(10 minutes)' });
    const models = parseDriftModels(monitorEnvironment(defaults.template)![DRIFT_MODELS_ENV] as string);
    expect(models.map((m) => m.name)).toEqual(['breast-cancer', 'credit-risk']);
    expect(defaults.stack.driftMonitor?.models.map((m) => m.name)).toEqual(['breast-cancer', 'credit-risk']);
  });

  it('puts the function on the fleet dashboard', () => {
    const fnId = logicalIdOf(defaults.template, 'AWS::Lambda::Function', 'DriftMonitorFunction');
    const fleet = Object.values(defaults.template.findResources('AWS::CloudWatch::Dashboard')).find(
      (d) => (d.Properties as Json).DashboardName === 'modelops-test-fleet',
    );
    expect(JSON.stringify(fleet)).toContain(`{"Ref":"${fnId}"}`);
  });

  it("alarms on the function's own errors to the alarm topic, ALARM and OK, with the runbook", () => {
    const fnId = logicalIdOf(defaults.template, 'AWS::Lambda::Function', 'DriftMonitorFunction');
    const topicId = logicalIdOf(defaults.template, 'AWS::SNS::Topic', 'AlarmTopic');
    defaults.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'modelops-test-drift-monitor-failed',
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
      Statistic: 'Sum',
      Period: 1200,
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId }],
      OKActions: [{ Ref: topicId }],
      AlarmDescription: Match.stringLikeRegexp('Runbook: docs/runbooks/drift-monitor-errors\\.md$'),
    });
  });

  it('alarms per drift-enabled model on DriftMonitorErrors', () => {
    for (const model of ['breast-cancer', 'credit-risk']) {
      defaults.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `modelops-test-${model}-drift-monitor-errors`,
        MetricName: 'DriftMonitorErrors',
        Dimensions: [{ Name: 'Model', Value: model }],
        Statistic: 'Sum',
        Threshold: 1,
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('outputs the MonitorState table and lets the uploader policy read it', () => {
    const stateTable = logicalIdOf(defaults.template, 'AWS::DynamoDB::Table', 'TablesMonitorState');
    expect(STACK_OUTPUTS.monitorStateTableName).toBe('MonitorStateTableName');
    defaults.template.hasOutput('MonitorStateTableName', { Value: { Ref: stateTable } });
    const uploader = identityStatements(defaults.template).filter(
      (s) =>
        s.logicalId.startsWith('UploaderPolicy') &&
        JSON.stringify(s.statement.Resource).includes(`"${stateTable}"`),
    );
    expect(uploader.map((s) => s.statement.Action)).toEqual([['dynamodb:GetItem', 'dynamodb:Query']]);
  });

  it('follows monitoring.driftScheduleMinutes and creates nothing when no model has drift enabled', () => {
    const scheduled = synthApp({
      ...TEST_CONFIG,
      monitoring: { driftScheduleMinutes: 30 },
      models: [
        { name: 'breast-cancer', owner: 'ml' },
        { name: 'credit-risk', owner: 'ml', drift: { enabled: false } },
      ],
    });
    const off = synthApp({
      ...TEST_CONFIG,
      models: [
        { name: 'breast-cancer', owner: 'ml', drift: { enabled: false } },
        { name: 'credit-risk', owner: 'ml', drift: { enabled: false } },
      ],
    });
    try {
      scheduled.template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(30 minutes)',
      });
      scheduled.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        MaximumEventAgeInSeconds: 1800,
      });
      const models = parseDriftModels(monitorEnvironment(scheduled.template)![DRIFT_MODELS_ENV] as string);
      expect(models.map((m) => m.name)).toEqual(['breast-cancer']);

      expect(off.stack.driftMonitor).toBeUndefined();
      expect(monitorEnvironment(off.template)).toBeUndefined();
      const rules = Object.values(off.template.findResources('AWS::Events::Rule'));
      expect(rules.filter((r) => (r.Properties as Json).ScheduleExpression !== undefined)).toEqual([]);
      off.template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 0);
      // The table (and its output) exist regardless: `modelops status` reads it.
      off.template.hasOutput('MonitorStateTableName', Match.anyValue());
    } finally {
      scheduled.cleanup();
      off.cleanup();
    }
  });
});
