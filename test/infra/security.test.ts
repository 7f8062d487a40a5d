/**
 * Whole-stack security checks on the real app: cdk-nag (AwsSolutions + NIST 800-53 R5) reports nothing
 * unacknowledged, and the IAM policies hold no wildcard actions and no write access beyond what each role needs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../bin/modelops';
import { AUDIT_LOG_TABLE, MODEL_VERSIONS_TABLE } from '../../lambdas/core/tables';
import { RELEASE_WORKFLOW } from '../../lib/workflows/release';
import {
  asArray,
  identityStatements,
  logicalIdOf,
  NO_BUNDLING_CONTEXT,
  synthApp,
  TEST_CONFIG,
} from './helpers';
import type { ModelOpsConfigInput } from '../../lib/config';
import type { PolicyStatementJson, SynthResult } from './helpers';

/**
 * The test config plus every serving feature that adds IAM or cdk-nag surface: capture (S3 writes), provisioned
 * concurrency and scaling, a reservation, SageMaker models with a real-time and a serverless variant, and drift
 * monitoring (the scheduled DriftMonitor function and rule), on for breast-cancer and off for credit-risk.
 */
const SECURITY_CONFIG: ModelOpsConfigInput = {
  ...TEST_CONFIG,
  models: [
    {
      name: 'breast-cancer',
      owner: 'ml-platform',
      reservedConcurrency: 10,
      provisionedConcurrency: { min: 1, max: 5, targetUtilization: 0.7 },
      inference: { capture: { sampleRate: 0.05 } },
      drift: { enabled: true },
      // Canary on: the alarm-rollback function, its rule and queue are checked too.
      canary: { enabled: true },
    },
    { name: 'credit-risk', owner: 'ml-platform', drift: { enabled: false } },
    {
      name: 'fraud-score',
      owner: 'ml-platform',
      target: 'sagemaker',
      inference: { capture: { sampleRate: 1 } },
      // Canary on: DeployCandidate gets this endpoint's rollout grant (name-prefix wildcards, acknowledged).
      canary: { enabled: true },
      sagemaker: {
        image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgboost-inference:1.7-1',
        modelDataKey: 'models/fraud-score/1.0.0/ab12.tar.gz',
        version: '1.0.0',
      },
    },
    {
      name: 'churn',
      owner: 'ml-platform',
      target: 'sagemaker',
      sagemaker: {
        image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgboost-inference:1.7-1',
        modelDataKey: 'models/churn/1.0.0/cd34.tar.gz',
        version: '1.0.0',
        variant: { kind: 'serverless', memorySizeInMb: 1024, maxConcurrency: 5, provisionedConcurrency: 1 },
      },
    },
  ],
};

interface ValidationReport {
  readonly pluginReports: readonly {
    readonly pluginName: string;
    readonly violations: readonly {
      readonly ruleName: string;
      readonly violatingConstructs: readonly { constructPath: string }[];
    }[];
    readonly suppressedViolations?: readonly { readonly ruleName: string; readonly reason: string }[];
  }[];
}

const NAG_PACKS = ['AwsSolutions', 'NIST.800.53.R5'];

let synth: SynthResult;
let report: ValidationReport;
beforeAll(() => {
  // The one synthesis exactly as `cdk synth` does it: functions bundled, templates validated by CDK.
  synth = synthApp(SECURITY_CONFIG, undefined, { bundling: true, cloudFormationValidation: true });
  report = JSON.parse(
    fs.readFileSync(path.join(synth.assembly.directory, 'validation-report.json'), 'utf8'),
  ) as ValidationReport;
});
afterAll(() => synth.cleanup());

describe('cdk-nag', () => {
  it('runs both packs on the app', () => {
    expect(report.pluginReports.map((r) => r.pluginName)).toEqual(expect.arrayContaining(NAG_PACKS));
  });

  it('reports zero unacknowledged findings', () => {
    const findings = report.pluginReports
      .filter((r) => NAG_PACKS.includes(r.pluginName))
      .flatMap((r) =>
        r.violations.map(
          (v) => `${v.ruleName} at ${v.violatingConstructs.map((c) => c.constructPath).join(', ')}`,
        ),
      );
    expect(findings).toEqual([]);
  });

  it('gives every acknowledgement a specific reason', () => {
    const acknowledged = report.pluginReports.flatMap((r) => r.suppressedViolations ?? []);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const a of acknowledged) expect(a.reason.length, a.ruleName).toBeGreaterThan(60);
  });

  it('fails synthesis when a finding is not acknowledged', () => {
    // GIVEN the real app plus one queue that violates AwsSolutions-SQS3/SQS4 and has no acknowledgement
    const outdir = fs.mkdtempSync(path.join(synth.outdir, 'negative-'));
    const { app, stack } = createApp({
      config: TEST_CONFIG,
      appProps: { outdir, context: { ...NO_BUNDLING_CONTEXT }, builtinCloudFormationValidation: false },
    });
    new Queue(stack, 'UnacknowledgedQueue');
    // THEN synthesis stops with the finding in the report
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS4/);
  });
});

describe('bundling', () => {
  it('ships every project function as a bundled index.js with its source map', () => {
    // GIVEN the functions built by ModelOpsFunction (they all set a Powertools service name)
    const functions = Object.values(synth.template.findResources('AWS::Lambda::Function')).filter(
      (f) =>
        (f as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties
          .Environment?.Variables?.POWERTOOLS_SERVICE_NAME !== undefined,
    ) as { Properties: { Code: { S3Key: string } } }[];
    // THEN the release functions, one per model, the drift monitor and the alarm rollback, each with its bundle staged in the cloud
    // assembly
    expect(functions).toHaveLength(
      // + the drift monitor and the alarm rollback (a model has canary on)
      RELEASE_WORKFLOW.functions.length + (SECURITY_CONFIG.models?.length ?? 0) + 2,
    );
    for (const fn of functions) {
      const hash = fn.Properties.Code.S3Key.replace(/\.zip$/, '');
      const dir = path.join(synth.assembly.directory, `asset.${hash}`);
      expect(fs.readdirSync(dir).sort(), hash).toEqual(['index.js', 'index.js.map']);
    }
  });
});

describe('IAM least privilege', () => {
  const allows = (): { logicalId: string; roles: readonly string[]; statement: PolicyStatementJson }[] =>
    identityStatements(synth.template).filter((s) => s.statement.Effect === 'Allow');

  it('finds the identity policies to check', () => {
    expect(allows().length).toBeGreaterThan(10);
  });

  it('has no Allow with Action "*" or "service:*" in any identity or resource policy', () => {
    const resources = synth.template.toJSON().Resources as Record<
      string,
      { Type: string; Properties: Record<string, unknown> }
    >;
    const resourcePolicyAllows = Object.values(resources)
      // Key policies are excluded: their account-root `kms:*` statement is what lets IAM policies grant key use.
      .filter((r) =>
        ['AWS::S3::BucketPolicy', 'AWS::SQS::QueuePolicy', 'AWS::SNS::TopicPolicy'].includes(r.Type),
      )
      .flatMap((r) =>
        asArray((r.Properties.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement),
      )
      .filter((s) => s.Effect === 'Allow');
    const actions = [...allows().map((s) => s.statement), ...resourcePolicyAllows].flatMap((s) =>
      asArray(s.Action),
    );
    expect(actions.length).toBeGreaterThan(10);
    expect(actions.filter((a) => a === '*' || /^[a-z0-9-]+:\*$/.test(a))).toEqual([]);
  });

  it('gives no role UpdateItem, DeleteItem or BatchWriteItem on the AuditLog', () => {
    const auditLogId = logicalIdOf(synth.template, 'AWS::DynamoDB::Table', `Tables${AUDIT_LOG_TABLE.id}`);
    const onAuditLog = allows().filter((s) =>
      JSON.stringify(s.statement.Resource ?? '').includes(auditLogId),
    );
    expect(onAuditLog.length).toBeGreaterThan(0);
    const actions = onAuditLog.flatMap((s) => asArray(s.statement.Action));
    expect(actions.filter((a) => /dynamodb:(UpdateItem|DeleteItem|BatchWriteItem|\*)/.test(a))).toEqual([]);
    // Functions only append; the uploader policy (for people following their release) only reads.
    const byUploader = (s: { logicalId: string }) => s.logicalId.startsWith('UploaderPolicy');
    expect(
      new Set(onAuditLog.filter((s) => !byUploader(s)).flatMap((s) => asArray(s.statement.Action))),
    ).toEqual(new Set(['dynamodb:PutItem']));
    expect(new Set(onAuditLog.filter(byUploader).flatMap((s) => asArray(s.statement.Action)))).toEqual(
      new Set(['dynamodb:GetItem', 'dynamodb:Query']),
    );
  });

  it('lets only RegisterVersion and RecordRejection replace version items; others change attributes in place', () => {
    const versionsId = logicalIdOf(
      synth.template,
      'AWS::DynamoDB::Table',
      `Tables${MODEL_VERSIONS_TABLE.id}`,
    );
    const onVersions = allows().filter((s) =>
      JSON.stringify(s.statement.Resource ?? '').includes(versionsId),
    );
    const replacing = onVersions.filter((s) => asArray(s.statement.Action).includes('dynamodb:PutItem'));
    expect(new Set(replacing.map((s) => s.logicalId.replace(/RolePolicy.*$/, '')))).toEqual(
      new Set(['ReleaseRegisterVersion', 'ReleaseRecordRejection']),
    );
    const patching = onVersions.filter((s) => asArray(s.statement.Action).includes('dynamodb:UpdateItem'));
    expect(patching.length).toBeGreaterThanOrEqual(4);
    for (const s of patching) {
      expect(new Set(asArray(s.statement.Action)), s.logicalId).toEqual(
        new Set(['dynamodb:GetItem', 'dynamodb:UpdateItem']),
      );
    }
  });

  it('lets the release functions write to S3 only under models/, and serving functions only their capture/', () => {
    const writes = allows().filter((s) =>
      asArray(s.statement.Action).some((a) => /^s3:(Put|Delete|Copy)/.test(a)),
    );
    expect(writes.length).toBeGreaterThan(0);
    const captureWriters: string[] = [];
    for (const w of writes) {
      const resource = JSON.stringify(w.statement.Resource);
      if (w.logicalId.startsWith('UploaderPolicy')) {
        // The uploader managed policy: incoming/ only, never models/ or capture/.
        expect(resource, w.logicalId).toMatch(/\/incoming\/\*"\]\]\}$/);
        expect(asArray(w.statement.Action)).toEqual(['s3:PutObject', 's3:AbortMultipartUpload']);
        continue;
      }
      expect(resource, w.logicalId).not.toContain('incoming');
      const capture = /\/capture\/([a-z0-9-]+)\/\*"/.exec(resource);
      if (capture) {
        // Only a serving function of that very model, and only PutObject.
        expect(w.logicalId).toMatch(/^(BreastCancer|FraudScore)Endpoint(Inference|Router)FunctionRolePolicy/);
        expect(w.logicalId.startsWith(capture[1] === 'breast-cancer' ? 'BreastCancer' : 'FraudScore')).toBe(
          true,
        );
        expect(asArray(w.statement.Action)).toEqual(['s3:PutObject']);
        captureWriters.push(capture[1] as string);
      } else {
        expect(resource, w.logicalId).toContain('/models/*');
        expect(w.logicalId, w.logicalId).toMatch(/^Release/);
      }
    }
    expect(captureWriters.sort()).toEqual(['breast-cancer', 'fraud-score']);
  });

  it('gives serving roles no write to the ledger: reads, plus UpdateItem on DriftCounters only', () => {
    const serving = allows().filter((s) => /Endpoint(Inference|Router)FunctionRole/.test(s.logicalId));
    expect(serving.length).toBeGreaterThan(0);
    const dynamo = serving.filter((s) => asArray(s.statement.Action).some((a) => a.startsWith('dynamodb:')));
    for (const s of dynamo) {
      const actions = asArray(s.statement.Action);
      const onCounters = JSON.stringify(s.statement.Resource).includes('TablesDriftCounters');
      // The drift counters take atomic ADDs; every other table is read only (feedback is off in this config).
      const allowed = onCounters ? ['dynamodb:UpdateItem'] : ['dynamodb:GetItem', 'dynamodb:Query'];
      for (const a of actions) expect(allowed, `${s.logicalId} ${a}`).toContain(a);
    }
  });

  it('lets the drift monitor write only its MonitorState items and the ledger, and publish one event type', () => {
    const monitor = allows().filter((s) => s.logicalId.startsWith('DriftMonitorFunctionRolePolicy'));
    expect(monitor.length).toBeGreaterThan(0);
    const tableWrites = monitor.filter((s) =>
      asArray(s.statement.Action).some((a) =>
        /^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)/.test(a),
      ),
    );
    expect(tableWrites.map((s) => JSON.stringify(s.statement.Resource)).sort()).toEqual(
      [
        JSON.stringify({
          'Fn::GetAtt': [logicalIdOf(synth.template, 'AWS::DynamoDB::Table', 'TablesAuditLog'), 'Arn'],
        }),
        JSON.stringify({
          'Fn::GetAtt': [logicalIdOf(synth.template, 'AWS::DynamoDB::Table', 'TablesMonitorState'), 'Arn'],
        }),
      ].sort(),
    );
    expect(monitor.flatMap((s) => asArray(s.statement.Action)).filter((a) => a.startsWith('s3:'))).toEqual([
      's3:GetObject',
    ]);
    const publish = monitor.filter((s) => asArray(s.statement.Action).includes('events:PutEvents'));
    expect(publish).toHaveLength(1);
    expect(JSON.stringify(publish[0]?.statement.Resource)).toContain(':event-bus/default');
    expect(publish[0]?.statement.Condition).toEqual({
      StringEquals: { 'events:source': ['modelops'], 'events:detail-type': ['ModelDriftDetected'] },
    });
  });

  it('lets the approval function publish only approval requests, on the default bus', () => {
    const approval = allows().filter((s) => s.logicalId.startsWith('ReleaseApproval'));
    const publish = approval.filter((s) => asArray(s.statement.Action).includes('events:PutEvents'));
    expect(publish).toHaveLength(1);
    expect(JSON.stringify(publish[0]?.statement.Resource)).toContain(':event-bus/default');
    expect(publish[0]?.statement.Condition).toEqual({
      StringEquals: { 'events:source': ['modelops'], 'events:detail-type': ['ApprovalRequested'] },
    });
  });

  it('lets the state machine invoke only the release functions', () => {
    const sm = allows().filter((s) => s.logicalId.startsWith('ReleaseStateMachineRole'));
    const invoke = sm.filter((s) => asArray(s.statement.Action).includes('lambda:InvokeFunction'));
    expect(invoke).toHaveLength(1);
    const resources = asArray(invoke[0]?.statement.Resource as unknown[]).map((r) => JSON.stringify(r));
    expect(resources).toHaveLength(8);
    for (const fn of [
      'ValidateArtifact',
      'RegisterVersion',
      'RecordRejection',
      'Approval',
      'StartRollout',
      'AnalyzeCanary',
      'AdvanceRollout',
      'DeployCandidate',
    ]) {
      expect(resources.some((r) => r.includes(`Release${fn}Function`))).toBe(true);
    }
  });

  it('attaches no AWS-managed policies and no inline policies', () => {
    const roles = synth.template.findResources('AWS::IAM::Role');
    for (const role of Object.values(roles) as { Properties: Record<string, unknown> }[]) {
      expect(role.Properties.ManagedPolicyArns ?? []).toEqual([]);
      expect(role.Properties.Policies).toBeUndefined();
    }
    synth.template.resourceCountIs('AWS::IAM::Policy', 0);
  });
});

describe('registry write protection and model signing', () => {
  const resources = (): Record<string, { Type: string; Properties: Record<string, unknown> }> =>
    synth.template.toJSON().Resources as Record<
      string,
      { Type: string; Properties: Record<string, unknown> }
    >;

  it('denies models/ writes to every principal but the RegisterVersion role, and locks no other prefix', () => {
    const bucketId = logicalIdOf(synth.template, 'AWS::S3::Bucket', 'RegistryBucket');
    const registerRoleId = logicalIdOf(synth.template, 'AWS::IAM::Role', 'ReleaseRegisterVersionRole');
    const policy = Object.values(resources()).find(
      (r) =>
        r.Type === 'AWS::S3::BucketPolicy' && JSON.stringify(r.Properties.Bucket) === `{"Ref":"${bucketId}"}`,
    );
    const denies = asArray(
      (policy?.Properties.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement,
    ).filter((s) => s.Effect === 'Deny' && JSON.stringify(s.Resource).includes('/models/*'));
    expect(denies).toHaveLength(1);
    expect(denies[0]?.Condition).toEqual({
      ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [registerRoleId, 'Arn'] } },
    });
    expect(resources()[bucketId]?.Properties.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
    });
  });

  it('lets only RegisterVersion sign, and only serving functions verify, with the model signing key', () => {
    const keyId = logicalIdOf(synth.template, 'AWS::KMS::Key', 'ModelSigningKey');
    expect(resources()[keyId]?.Properties).toMatchObject({
      KeySpec: 'ECC_NIST_P256',
      KeyUsage: 'SIGN_VERIFY',
    });
    const onKey = allowsOnKey(keyId);
    const signers = onKey.filter((s) => asArray(s.statement.Action).includes('kms:Sign'));
    expect(signers.map((s) => s.logicalId)).toEqual([
      expect.stringMatching(/^ReleaseRegisterVersionRolePolicy/),
    ]);
    const verifiers = onKey.filter((s) => asArray(s.statement.Action).includes('kms:Verify'));
    // One per serving function (4 models), nothing else.
    expect(verifiers).toHaveLength(SECURITY_CONFIG.models?.length ?? 0);
    for (const v of verifiers) expect(v.logicalId).toMatch(/Endpoint(Inference|Router)FunctionRolePolicy/);
    const actions = new Set(onKey.flatMap((s) => asArray(s.statement.Action)));
    expect(actions).toEqual(new Set(['kms:Sign', 'kms:Verify', 'kms:GetPublicKey']));
  });

  function allowsOnKey(keyId: string) {
    return identityStatements(synth.template).filter(
      (s) =>
        s.statement.Effect === 'Allow' && JSON.stringify(s.statement.Resource ?? '').includes(`"${keyId}"`),
    );
  }
});
