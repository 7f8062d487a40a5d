/**
 * InferenceEndpoint on the real app (same code path as `cdk synth`): provisioned concurrency and scaling on the alias
 * `live`, the function's settings and environment, a least-privilege runtime role, and an IAM-authenticated Function
 * URL on the alias.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { Match } from 'aws-cdk-lib/assertions';
import { AccountPrincipal } from 'aws-cdk-lib/aws-iam';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelOpsConfigInput } from '../../lib/config';
import { ArtifactRegistry } from '../../lib/constructs/artifact-registry';
import { LIVE_ALIAS_NAME } from '../../lib/constructs/function-entry-point';
import { InferenceEndpoint } from '../../lib/constructs/inference-endpoint';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { ConstructPropsError, ManagedPolicyRole } from '../../lib/constructs/modelops-function';
import { invokeUrlOutputName, modelConstructStem } from '../../lib/stacks/modelops-stack';
import type { ModelOpsStack } from '../../lib/stacks/modelops-stack';
import { DEPLOYMENTS_TABLE, DRIFT_COUNTERS_TABLE, MODEL_VERSIONS_TABLE } from '../../lambdas/core/tables';
import { asArray, identityStatements, logicalIdOf, synthApp, TEST_CONFIG, testStack } from './helpers';
import type { PolicyStatementJson, SynthResult, TemplateResource } from './helpers';

const CONFIG: ModelOpsConfigInput = {
  ...TEST_CONFIG,
  monitoring: { namespace: 'Acme/ModelOps' },
  models: [
    {
      name: 'breast-cancer',
      owner: 'ml-platform',
      memoryMb: 2048,
      timeoutSeconds: 15,
      reservedConcurrency: 20,
      provisionedConcurrency: { min: 2, max: 10, targetUtilization: 0.6 },
      inference: {
        routingCacheTtlSeconds: 2,
        maxBodyBytes: 262_144,
        maxBatch: 32,
        capture: { sampleRate: 0.1, batchRecords: 50 },
      },
    },
    // All defaults: no provisioned concurrency, no capture, no reservation.
    { name: 'credit-risk', owner: 'ml-platform' },
  ],
};

type Resource = TemplateResource;

let synth: SynthResult;
let stack: ModelOpsStack;
let template: Template;
let resources: Record<string, Resource>;
beforeAll(() => {
  synth = synthApp(CONFIG, (s) => {
    // A caller granted access through the public helper, as a deployer would do for a client application.
    const caller = new ManagedPolicyRole(s, 'TestCaller', {
      assumedBy: new AccountPrincipal('123456789012'),
    });
    s.endpoints['breast-cancer']?.grantInvoke(caller);
  });
  ({ stack, template } = synth);
  resources = template.toJSON().Resources as Record<string, Resource>;
});
afterAll(() => synth.cleanup());

const functionId = (model: string) =>
  logicalIdOf(template, 'AWS::Lambda::Function', `${modelConstructStem(model)}EndpointInferenceFunction`);
const aliasId = (model: string) =>
  logicalIdOf(template, 'AWS::Lambda::Alias', `${modelConstructStem(model)}EndpointInferenceLiveAlias`);
const roleId = (model: string) =>
  logicalIdOf(template, 'AWS::IAM::Role', `${modelConstructStem(model)}EndpointInferenceFunctionRole`);

function statementsOf(model: string): PolicyStatementJson[] {
  const role = roleId(model);
  return identityStatements(template)
    .filter((s) => s.roles.includes(role) && s.statement.Effect === 'Allow')
    .map((s) => s.statement);
}

describe('InferenceEndpoint function', () => {
  it('takes memory, timeout and reserved concurrency from the model config', () => {
    expect(resources[functionId('breast-cancer')]?.Properties).toMatchObject({
      MemorySize: 2048,
      Timeout: 15,
      ReservedConcurrentExecutions: 20,
      Runtime: 'nodejs22.x',
      Architectures: ['x86_64'],
    });
    const defaults = resources[functionId('credit-risk')]?.Properties ?? {};
    expect(defaults).toMatchObject({ MemorySize: 1024, Timeout: 10 });
    expect(defaults.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('sets the inference environment of the contract', () => {
    expect(resources[functionId('breast-cancer')]?.Properties.Environment).toEqual({
      Variables: expect.objectContaining({
        MODEL_NAME: 'breast-cancer',
        ROUTING_CACHE_TTL_MS: '2000',
        MAX_BODY_BYTES: '262144',
        MAX_BATCH: '32',
        CAPTURE_SAMPLE_RATE: '0.1',
        CAPTURE_BATCH_RECORDS: '50',
        POWERTOOLS_METRICS_NAMESPACE: 'Acme/ModelOps',
        POWERTOOLS_SERVICE_NAME: 'inference',
        REGISTRY_BUCKET: { Ref: expect.stringMatching(/^RegistryBucket/) },
        [DEPLOYMENTS_TABLE.envVar]: { Ref: expect.stringMatching(/^TablesDeployments/) },
        [MODEL_VERSIONS_TABLE.envVar]: { Ref: expect.stringMatching(/^TablesModelVersions/) },
      }),
    });
    expect(resources[functionId('credit-risk')]?.Properties.Environment).toEqual({
      Variables: expect.objectContaining({
        MODEL_NAME: 'credit-risk',
        ROUTING_CACHE_TTL_MS: '5000',
        MAX_BODY_BYTES: String(1024 * 1024),
        MAX_BATCH: '64',
        CAPTURE_SAMPLE_RATE: '0',
        CAPTURE_BATCH_RECORDS: '100',
      }),
    });
  });

  it('loads ONNX Runtime from the stack layer', () => {
    const layer = logicalIdOf(template, 'AWS::Lambda::LayerVersion', 'OnnxRuntimeLayer');
    expect(resources[functionId('breast-cancer')]?.Properties.Layers).toEqual([{ Ref: layer }]);
  });

  it('uses the monitoring namespace for the release functions too', () => {
    const validate = logicalIdOf(template, 'AWS::Lambda::Function', 'ReleaseValidateArtifactFunction');
    expect(resources[validate]?.Properties.Environment).toEqual({
      Variables: expect.objectContaining({ POWERTOOLS_METRICS_NAMESPACE: 'Acme/ModelOps' }),
    });
  });
});

describe('InferenceEndpoint provisioned concurrency', () => {
  it('provisions config min on the alias live of the current version', () => {
    const alias = resources[aliasId('breast-cancer')];
    expect(alias?.Properties).toMatchObject({
      Name: LIVE_ALIAS_NAME,
      FunctionName: { Ref: functionId('breast-cancer') },
      FunctionVersion: { 'Fn::GetAtt': [expect.stringMatching(/CurrentVersion/), 'Version'] },
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 2 },
    });
  });

  it('scales the alias between min and max on provisioned-concurrency utilization', () => {
    const targets = template.findResources('AWS::ApplicationAutoScaling::ScalableTarget');
    expect(Object.keys(targets)).toHaveLength(1);
    const [targetId, target] = Object.entries(targets)[0] as [string, Resource];
    expect(target.Properties).toMatchObject({
      ServiceNamespace: 'lambda',
      ScalableDimension: 'lambda:function:ProvisionedConcurrency',
      MinCapacity: 2,
      MaxCapacity: 10,
    });
    // function:<name>:live, the name taken from the alias ARN.
    expect(JSON.stringify(target.Properties.ResourceId)).toContain(aliasId('breast-cancer'));
    expect(JSON.stringify(target.Properties.ResourceId)).toContain(`:${LIVE_ALIAS_NAME}`);
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      ScalingTargetId: { Ref: targetId },
      TargetTrackingScalingPolicyConfiguration: {
        PredefinedMetricSpecification: { PredefinedMetricType: 'LambdaProvisionedConcurrencyUtilization' },
        TargetValue: 0.6,
      },
    });
    expect(stack.endpoints['breast-cancer']?.scalableTarget?.node.path).toBe(
      `${stack.stackName}/BreastCancerEndpoint/Inference/LiveAlias/AliasScaling/Target`,
    );
  });

  it('has no provisioned concurrency and no scaling when max is 0', () => {
    const alias = resources[aliasId('credit-risk')];
    expect(alias?.Properties.Name).toBe(LIVE_ALIAS_NAME);
    expect(alias?.Properties.ProvisionedConcurrencyConfig).toBeUndefined();
    const scaled = JSON.stringify(template.findResources('AWS::ApplicationAutoScaling::ScalableTarget'));
    expect(scaled).not.toContain(aliasId('credit-risk'));
    expect(stack.endpoints['credit-risk']?.scalableTarget).toBeUndefined();
  });
});

describe('InferenceEndpoint runtime role', () => {
  it('reads only models/* in S3, plus capture/<model>/ writes when capture is on', () => {
    for (const model of ['breast-cancer', 'credit-risk']) {
      const s3 = statementsOf(model).filter((s) => asArray(s.Action).some((a) => a.startsWith('s3:')));
      const grants = s3.map((s) => ({ actions: asArray(s.Action), resource: JSON.stringify(s.Resource) }));
      expect(grants.filter((g) => g.actions.includes('s3:GetObject'))).toEqual([
        { actions: ['s3:GetObject'], resource: expect.stringMatching(/\/models\/\*"/) },
      ]);
      const writes = grants.filter((g) => g.actions.some((a) => a !== 's3:GetObject'));
      if (model === 'breast-cancer') {
        expect(writes).toEqual([
          { actions: ['s3:PutObject'], resource: expect.stringMatching(/\/capture\/breast-cancer\/\*"/) },
        ]);
      } else {
        expect(writes).toEqual([]);
      }
      expect(grants.map((g) => g.resource).join()).not.toContain('incoming');
    }
  });

  it('reads only Deployments (GetItem, Query) and ModelVersions records (GetItem), and adds to DriftCounters', () => {
    const deployments = logicalIdOf(template, 'AWS::DynamoDB::Table', `Tables${DEPLOYMENTS_TABLE.id}`);
    const versions = logicalIdOf(template, 'AWS::DynamoDB::Table', `Tables${MODEL_VERSIONS_TABLE.id}`);
    const counters = logicalIdOf(template, 'AWS::DynamoDB::Table', `Tables${DRIFT_COUNTERS_TABLE.id}`);
    for (const model of ['breast-cancer', 'credit-risk']) {
      const dynamo = statementsOf(model).filter((s) =>
        asArray(s.Action).some((a) => a.startsWith('dynamodb:')),
      );
      expect(dynamo.map((s) => [[...asArray(s.Action)].sort(), s.Resource])).toEqual([
        [['dynamodb:GetItem', 'dynamodb:Query'], { 'Fn::GetAtt': [deployments, 'Arn'] }],
        // The ledger: one point read per version; no Query, no status index, no write.
        [['dynamodb:GetItem'], { 'Fn::GetAtt': [versions, 'Arn'] }],
        // Drift counting (drift.enabled, the default): atomic ADD into bucket counters, nothing else.
        [['dynamodb:UpdateItem'], { 'Fn::GetAtt': [counters, 'Arn'] }],
      ]);
    }
  });

  it('has no other service permissions than logs, X-Ray, DynamoDB, S3 and KMS through them', () => {
    for (const model of ['breast-cancer', 'credit-risk']) {
      const statements = statementsOf(model);
      const services = new Set(statements.flatMap((s) => asArray(s.Action).map((a) => a.split(':')[0])));
      expect(services).toEqual(new Set(['logs', 'xray', 'dynamodb', 's3', 'kms']));
      for (const kms of statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('kms:')))) {
        const actions = asArray(kms.Action);
        if (actions.every((a) => a === 'kms:Verify' || a === 'kms:GetPublicKey')) {
          // The model signing key is used directly (verify a signature), not through a service.
          expect(JSON.stringify(kms.Resource)).toContain('ModelSigningKey');
        } else {
          expect(JSON.stringify(kms.Condition)).toContain('kms:ViaService');
        }
      }
      expect(statements.flatMap((s) => asArray(s.Action))).not.toContain('dynamodb:PutItem');
    }
  });
});

describe('InferenceEndpoint Function URL', () => {
  it('requires IAM auth, targets the alias live and has no CORS', () => {
    const urls = Object.values(template.findResources('AWS::Lambda::Url')) as Resource[];
    expect(urls).toHaveLength(2);
    for (const model of ['breast-cancer', 'credit-risk']) {
      const url = urls.find(
        (u) =>
          JSON.stringify(u.Properties.TargetFunctionArn) ===
          JSON.stringify({ 'Fn::GetAtt': [functionId(model), 'Arn'] }),
      );
      expect(url?.Properties).toEqual({
        AuthType: 'AWS_IAM',
        Qualifier: LIVE_ALIAS_NAME,
        TargetFunctionArn: { 'Fn::GetAtt': [functionId(model), 'Arn'] },
      });
      expect(url?.DependsOn).toContain(aliasId(model));
    }
  });

  it('grants no public invoke permission', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission')) as Resource[];
    expect(permissions.filter((p) => p.Properties.Principal === '*')).toEqual([]);
  });

  it('grantInvoke allows InvokeFunctionUrl (AWS_IAM) and InvokeFunction via the URL on the alias only', () => {
    const callerRole = logicalIdOf(template, 'AWS::IAM::Role', 'TestCaller');
    const statements = identityStatements(template)
      .filter((s) => s.roles.includes(callerRole))
      .map((s) => s.statement);
    const alias = { Ref: aliasId('breast-cancer') };
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Action: 'lambda:InvokeFunctionUrl',
          Resource: alias,
          Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        expect.objectContaining({
          Action: 'lambda:InvokeFunction',
          Resource: alias,
          Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': true } },
        }),
      ]),
    );
    expect(statements).toHaveLength(2);
  });

  it('exports each model URL as <Model>InvokeUrl', () => {
    const url = logicalIdOf(
      template,
      'AWS::Lambda::Url',
      'BreastCancerEndpointInferenceLiveAliasFunctionUrl',
    );
    template.hasOutput(invokeUrlOutputName('breast-cancer'), {
      Value: { 'Fn::GetAtt': [url, 'FunctionUrl'] },
    });
    expect(invokeUrlOutputName('credit-risk')).toBe('CreditRiskInvokeUrl');
    template.hasOutput('CreditRiskInvokeUrl', { Value: Match.anyValue() });
  });
});

describe('InferenceEndpoint props validation', () => {
  function endpointWith(extra: Partial<ConstructorParameters<typeof InferenceEndpoint>[2]>): () => void {
    const s = testStack('Validation');
    const registry = new ArtifactRegistry(s, 'Registry', {
      noncurrentVersionExpirationDays: 1,
      incomingExpirationDays: 1,
      accessLogDays: 1,
    });
    const tables = new MetadataTables(s, 'Tables');
    return () =>
      new InferenceEndpoint(s, 'Endpoint', {
        modelName: 'breast-cancer',
        registry,
        deployments: tables.deployments,
        modelVersions: tables.modelVersions,
        metricsNamespace: 'ModelOps',
        logRetention: RetentionDays.ONE_DAY,
        ...extra,
      });
  }

  it('rejects min above max and min 0 with scaling, naming the prop', () => {
    expect(endpointWith({ provisionedConcurrency: { min: 5, max: 2, targetUtilization: 0.7 } })).toThrow(
      ConstructPropsError,
    );
    expect(endpointWith({ provisionedConcurrency: { min: 0, max: 2, targetUtilization: 0.7 } })).toThrow(
      /provisionedConcurrency\.min must be between 1 and max \(2\) when max > 0, got 0/,
    );
  });

  it('rejects provisioned concurrency above the reservation and a bad model name', () => {
    expect(
      endpointWith({
        reservedConcurrentExecutions: 3,
        provisionedConcurrency: { min: 1, max: 4, targetUtilization: 0.7 },
      }),
    ).toThrow(/provisionedConcurrency\.max \(4\) must not exceed reservedConcurrentExecutions \(3\)/);
    expect(endpointWith({ modelName: 'Bad Name' })).toThrow(/modelName must be a model name.*"Bad Name"/);
  });

  it('rejects a capture sample rate outside 0-1', () => {
    expect(
      endpointWith({
        serving: {
          routingCacheTtlSeconds: 5,
          maxBodyBytes: 1,
          maxBatch: 1,
          capture: { sampleRate: 2, batchRecords: 1 },
        },
      }),
    ).toThrow(/serving\.capture\.sampleRate must be between 0 and 1, got 2/);
  });
});
