/**
 * SageMakerEndpoint on the real app: model, endpoint config and endpoint for a real-time and a serverless variant,
 * the variant named after the served version, a least-privilege execution role, a router that can invoke only
 * its own endpoint behind an IAM-authenticated Function URL, and the rollout grant (`grantRollout`) limited to the
 * endpoint and its name prefix, with the settings the rollout target reads (`rolloutSettings`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelOpsConfigInput } from '../../lib/config';
import { ArtifactRegistry } from '../../lib/constructs/artifact-registry';
import { LIVE_ALIAS_NAME } from '../../lib/constructs/function-entry-point';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { ConstructPropsError, ManagedPolicyRole } from '../../lib/constructs/modelops-function';
import { hasLocalInstanceStorage, SageMakerEndpoint } from '../../lib/constructs/sagemaker-endpoint';
import type { SageMakerEndpointProps } from '../../lib/constructs/sagemaker-endpoint';
import { variantNameFor } from '../../lambdas/core/keys';
import {
  endpointConfigNamePrefix,
  modelNamePrefix,
  SAGEMAKER_NAME_PATTERN,
} from '../../lambdas/core/rollout-target';
import { DEPLOYMENTS_TABLE, MODEL_VERSIONS_TABLE } from '../../lambdas/core/tables';
import {
  asArray,
  identityStatements,
  logicalIdOf,
  sageMakerArnPattern,
  synthApp,
  TEST_CONFIG,
  testStack,
} from './helpers';
import type { PolicyStatementJson, SynthResult, TemplateResource } from './helpers';

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml/xgboost-inference:1.7-1';
const CONFIG: ModelOpsConfigInput = {
  ...TEST_CONFIG,
  models: [
    {
      name: 'fraud-score',
      owner: 'ml-platform',
      target: 'sagemaker',
      memoryMb: 512,
      provisionedConcurrency: { min: 1, max: 4, targetUtilization: 0.5 },
      sagemaker: {
        image: IMAGE,
        modelDataKey: 'models/fraud-score/2.0.0-rc.1/ab12.tar.gz',
        version: '2.0.0-rc.1',
        variant: { kind: 'realtime', instanceType: 'ml.m5.xlarge', initialInstanceCount: 2 },
      },
    },
    {
      name: 'churn',
      owner: 'ml-platform',
      target: 'sagemaker',
      sagemaker: {
        image: IMAGE,
        modelDataKey: 'models/churn/1.0.0/cd34.tar.gz',
        version: '1.0.0',
        variant: { kind: 'serverless', memorySizeInMb: 2048, maxConcurrency: 20, provisionedConcurrency: 5 },
      },
    },
    {
      // Local NVMe storage: SageMaker refuses a volume key for this instance type.
      name: 'tagger',
      owner: 'ml-platform',
      target: 'sagemaker',
      sagemaker: {
        image: IMAGE,
        modelDataKey: 'models/tagger/3/ef56.tar.gz',
        version: '3',
        variant: { kind: 'realtime', instanceType: 'ml.g5.xlarge', initialInstanceCount: 1 },
      },
    },
  ],
};

type Resource = TemplateResource;

let synth: SynthResult;
let resources: Record<string, Resource>;
const endpoints: Partial<Record<Model, SageMakerEndpoint>> = {};
beforeAll(() => {
  // A deployer's rollout role, granted on a real-time endpoint with a volume key and on a serverless one.
  synth = synthApp(CONFIG, (stack) => {
    const role = new ManagedPolicyRole(stack, 'RolloutTestRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    });
    for (const c of stack.node.findAll()) {
      if (c instanceof SageMakerEndpoint) endpoints[c.modelName as Model] = c;
    }
    endpoints['fraud-score']!.grantRollout(role);
    endpoints.churn!.grantRollout(role);
  });
  resources = synth.template.toJSON().Resources as Record<string, Resource>;
});
afterAll(() => synth.cleanup());

const STEMS = { 'fraud-score': 'FraudScore', churn: 'Churn', tagger: 'Tagger' } as const;
type Model = keyof typeof STEMS;
const id = (type: string, model: Model, suffix: string) =>
  logicalIdOf(synth.template, type, `${STEMS[model]}Endpoint${suffix}`);
const endpointId = (model: Model) =>
  Object.keys(synth.template.findResources('AWS::SageMaker::Endpoint')).find((k) =>
    new RegExp(`^${STEMS[model]}Endpoint[0-9A-F]{8}$`).test(k),
  ) as string;
const props = (logicalId: string) => resources[logicalId]?.Properties ?? {};

function allowsOf(roleLogicalId: string): PolicyStatementJson[] {
  return identityStatements(synth.template)
    .filter((s) => s.roles.includes(roleLogicalId) && s.statement.Effect === 'Allow')
    .map((s) => s.statement);
}

describe('SageMakerEndpoint resources', () => {
  it('creates one model, endpoint config and endpoint per sagemaker model', () => {
    synth.template.resourceCountIs('AWS::SageMaker::Model', 3);
    synth.template.resourceCountIs('AWS::SageMaker::EndpointConfig', 3);
    synth.template.resourceCountIs('AWS::SageMaker::Endpoint', 3);
  });

  it('runs the image on the registered model data with network isolation', () => {
    expect(props(id('AWS::SageMaker::Model', 'fraud-score', 'Model'))).toMatchObject({
      ExecutionRoleArn: { 'Fn::GetAtt': [id('AWS::IAM::Role', 'fraud-score', 'ExecutionRole'), 'Arn'] },
      EnableNetworkIsolation: true,
      PrimaryContainer: {
        Image: IMAGE,
        Mode: 'SingleModel',
        ModelDataUrl: {
          'Fn::Join': [
            '',
            [
              's3://',
              { Ref: expect.stringMatching(/^RegistryBucket/) },
              '/models/fraud-score/2.0.0-rc.1/ab12.tar.gz',
            ],
          ],
        },
      },
    });
  });

  it('serves a real-time variant named variantNameFor(version) with a KMS-encrypted volume', () => {
    const config = props(id('AWS::SageMaker::EndpointConfig', 'fraud-score', 'EndpointConfig'));
    expect(variantNameFor('2.0.0-rc.1')).toBe('v-2-0-0--rc-1');
    expect(config.ProductionVariants).toEqual([
      {
        VariantName: variantNameFor('2.0.0-rc.1'),
        ModelName: { 'Fn::GetAtt': [id('AWS::SageMaker::Model', 'fraud-score', 'Model'), 'ModelName'] },
        InstanceType: 'ml.m5.xlarge',
        InitialInstanceCount: 2,
        InitialVariantWeight: 1,
      },
    ]);
    const key = id('AWS::KMS::Key', 'fraud-score', 'VolumeKey');
    expect(config.KmsKeyId).toEqual({ 'Fn::GetAtt': [key, 'Arn'] });
    expect(resources[key]).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: { EnableKeyRotation: true },
    });
    expect(config.DataCaptureConfig).toBeUndefined();
  });

  it('serves a serverless variant with provisioned concurrency and no KmsKeyId', () => {
    const config = props(id('AWS::SageMaker::EndpointConfig', 'churn', 'EndpointConfig'));
    expect(config.ProductionVariants).toEqual([
      {
        VariantName: variantNameFor('1.0.0'),
        ModelName: { 'Fn::GetAtt': [id('AWS::SageMaker::Model', 'churn', 'Model'), 'ModelName'] },
        ServerlessConfig: { MemorySizeInMB: 2048, MaxConcurrency: 20, ProvisionedConcurrency: 5 },
      },
    ]);
    expect(config.KmsKeyId).toBeUndefined();
    expect(config.DataCaptureConfig).toBeUndefined();
  });

  it('leaves KmsKeyId off for instance types with local storage', () => {
    const config = props(id('AWS::SageMaker::EndpointConfig', 'tagger', 'EndpointConfig'));
    expect(config.KmsKeyId).toBeUndefined();
    expect(hasLocalInstanceStorage('ml.g5.xlarge')).toBe(true);
    expect(hasLocalInstanceStorage('ml.m5d.large')).toBe(true);
    expect(hasLocalInstanceStorage('ml.g4dn.xlarge')).toBe(true);
    expect(hasLocalInstanceStorage('ml.m5.large')).toBe(false);
    expect(hasLocalInstanceStorage('ml.c6i.large')).toBe(false);
  });

  it('points each endpoint at its config, logging to a retained, encrypted log group of its name', () => {
    for (const model of Object.keys(STEMS) as Model[]) {
      const endpoint = resources[endpointId(model)];
      expect(endpoint?.Properties.EndpointConfigName).toEqual({
        'Fn::GetAtt': [id('AWS::SageMaker::EndpointConfig', model, 'EndpointConfig'), 'EndpointConfigName'],
      });
      const name = endpoint?.Properties.EndpointName as string;
      expect(name).toMatch(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/);
      const logGroup = id('AWS::Logs::LogGroup', model, 'EndpointLogGroup');
      expect(resources[logGroup]).toMatchObject({
        DeletionPolicy: 'Retain',
        Properties: {
          LogGroupName: `/aws/sagemaker/Endpoints/${name}`,
          RetentionInDays: 30,
          KmsKeyId: { 'Fn::GetAtt': [expect.stringMatching(/^LogsKey/), 'Arn'] },
        },
      });
      expect(endpoint?.DependsOn).toContain(logGroup);
    }
  });
});

describe('SageMakerEndpoint execution role', () => {
  it("is assumed by SageMaker only, on this account's behalf (confused-deputy protection)", () => {
    expect(props(id('AWS::IAM::Role', 'fraud-score', 'ExecutionRole')).AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'sagemaker.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
        },
      ],
    });
  });

  it('reads only models/*, pulls its one repository and writes only its log group', () => {
    const role = id('AWS::IAM::Role', 'fraud-score', 'ExecutionRole');
    const statements = allowsOf(role);
    const byService = (service: string) =>
      statements.filter((s) => asArray(s.Action).some((a) => a.startsWith(`${service}:`)));
    expect(byService('s3').map((s) => [s.Action, JSON.stringify(s.Resource)])).toEqual([
      ['s3:GetObject', expect.stringMatching(/\/models\/\*"/)],
    ]);
    const pull = byService('ecr').find((s) => asArray(s.Action).includes('ecr:BatchGetImage'));
    expect(JSON.stringify(pull?.Resource)).toContain(
      ':ecr:eu-west-1:123456789012:repository/ml/xgboost-inference"',
    );
    expect(byService('logs').map((s) => s.Resource)).toEqual([
      { 'Fn::GetAtt': [id('AWS::Logs::LogGroup', 'fraud-score', 'EndpointLogGroup'), 'Arn'] },
    ]);
    const metrics = byService('cloudwatch');
    expect(metrics).toEqual([
      expect.objectContaining({
        Action: 'cloudwatch:PutMetricData',
        Condition: { StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/Endpoints' } },
      }),
    ]);
    const services = new Set(statements.flatMap((s) => asArray(s.Action).map((a) => a.split(':')[0])));
    expect(services).toEqual(new Set(['s3', 'kms', 'ecr', 'logs', 'cloudwatch']));
    expect(JSON.stringify(statements)).not.toMatch(/incoming|dynamodb|PutObject/);
  });
});

describe('SageMakerEndpoint router', () => {
  const routerFunction = (model: Model) => id('AWS::Lambda::Function', model, 'RouterFunction');

  it('runs the router handler without the ONNX layer and names its endpoint', () => {
    const fn = props(routerFunction('fraud-score'));
    expect(fn).toMatchObject({ MemorySize: 512, Timeout: 10 });
    expect(fn.Layers).toBeUndefined();
    expect(fn.Environment).toEqual({
      Variables: expect.objectContaining({
        MODEL_NAME: 'fraud-score',
        SAGEMAKER_ENDPOINT_NAME: { 'Fn::GetAtt': [endpointId('fraud-score'), 'EndpointName'] },
        POWERTOOLS_SERVICE_NAME: 'sagemaker-router',
        POWERTOOLS_METRICS_NAMESPACE: 'ModelOps',
        ROUTING_CACHE_TTL_MS: '5000',
        MAX_BATCH: '64',
        [DEPLOYMENTS_TABLE.envVar]: { Ref: expect.stringMatching(/^TablesDeployments/) },
        [MODEL_VERSIONS_TABLE.envVar]: { Ref: expect.stringMatching(/^TablesModelVersions/) },
      }),
    });
  });

  it('may invoke only its own endpoint and read only models/*, Deployments and ModelVersions records', () => {
    const deployments = logicalIdOf(synth.template, 'AWS::DynamoDB::Table', `Tables${DEPLOYMENTS_TABLE.id}`);
    const versions = logicalIdOf(synth.template, 'AWS::DynamoDB::Table', `Tables${MODEL_VERSIONS_TABLE.id}`);
    for (const model of Object.keys(STEMS) as Model[]) {
      const statements = allowsOf(id('AWS::IAM::Role', model, 'RouterFunctionRole'));
      const invoke = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('sagemaker:')));
      expect(invoke).toEqual([
        expect.objectContaining({ Action: 'sagemaker:InvokeEndpoint', Resource: { Ref: endpointId(model) } }),
      ]);
      const dynamo = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('dynamodb:')));
      expect(dynamo.map((s) => [s.Action, s.Resource])).toEqual([
        [['dynamodb:GetItem', 'dynamodb:Query'], { 'Fn::GetAtt': [deployments, 'Arn'] }],
        ['dynamodb:GetItem', { 'Fn::GetAtt': [versions, 'Arn'] }],
      ]);
      const s3 = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('s3:')));
      expect(s3.map((s) => [s.Action, JSON.stringify(s.Resource)])).toEqual([
        ['s3:GetObject', expect.stringMatching(/\/models\/\*"/)],
      ]);
    }
  });

  it('is entered through an IAM-authenticated Function URL on the alias live', () => {
    for (const model of Object.keys(STEMS) as Model[]) {
      expect(props(id('AWS::Lambda::Url', model, 'RouterLiveAliasFunctionUrl'))).toEqual({
        AuthType: 'AWS_IAM',
        Qualifier: LIVE_ALIAS_NAME,
        TargetFunctionArn: { 'Fn::GetAtt': [routerFunction(model), 'Arn'] },
      });
    }
    synth.template.hasOutput('FraudScoreInvokeUrl', {
      Value: {
        'Fn::GetAtt': [id('AWS::Lambda::Url', 'fraud-score', 'RouterLiveAliasFunctionUrl'), 'FunctionUrl'],
      },
    });
  });

  it('scales the router alias when provisioned concurrency is configured', () => {
    expect(
      props(id('AWS::Lambda::Alias', 'fraud-score', 'RouterLiveAlias')).ProvisionedConcurrencyConfig,
    ).toEqual({
      ProvisionedConcurrentExecutions: 1,
    });
    expect(
      props(id('AWS::Lambda::Alias', 'churn', 'RouterLiveAlias')).ProvisionedConcurrencyConfig,
    ).toBeUndefined();
    const targets = Object.values(
      synth.template.findResources('AWS::ApplicationAutoScaling::ScalableTarget'),
    ) as Resource[];
    expect(targets.map((t) => [t.Properties.MinCapacity, t.Properties.MaxCapacity])).toEqual([[1, 4]]);
  });
});

describe('SageMakerEndpoint rollout', () => {
  const rolloutRole = () => logicalIdOf(synth.template, 'AWS::IAM::Role', 'RolloutTestRole');

  it('exposes what the rollout target needs: endpoint name, execution role, image, bucket, variant, key', () => {
    const fraud = synth.stack.resolve(endpoints['fraud-score']!.rolloutSettings) as Record<string, unknown>;
    expect(fraud).toEqual({
      endpointName: endpoints['fraud-score']!.endpointName,
      executionRoleArn: { 'Fn::GetAtt': [id('AWS::IAM::Role', 'fraud-score', 'ExecutionRole'), 'Arn'] },
      image: IMAGE,
      registryBucketName: { Ref: expect.stringMatching(/^RegistryBucket/) },
      variant: { kind: 'realtime', instanceType: 'ml.m5.xlarge', initialInstanceCount: 2 },
      kmsKeyId: { 'Fn::GetAtt': [id('AWS::KMS::Key', 'fraud-score', 'VolumeKey'), 'Arn'] },
      networkIsolation: true,
    });
    const churn = synth.stack.resolve(endpoints.churn!.rolloutSettings) as Record<string, unknown>;
    expect(churn.kmsKeyId).toBeUndefined();
    expect(churn.variant).toEqual({
      kind: 'serverless',
      memorySizeInMb: 2048,
      maxConcurrency: 20,
      provisionedConcurrency: 5,
    });
  });

  it('derives lower-case name prefixes that leave room for a content hash', () => {
    for (const endpoint of Object.values(endpoints)) {
      for (const prefix of [
        endpointConfigNamePrefix(endpoint.endpointName),
        modelNamePrefix(endpoint.endpointName),
      ]) {
        expect(prefix).toBe(prefix.toLowerCase());
        expect(prefix.length + 16).toBeLessThanOrEqual(63);
        expect(`${prefix}0123456789abcdef`).toMatch(SAGEMAKER_NAME_PATTERN);
      }
    }
    expect(endpointConfigNamePrefix(endpoints['fraud-score']!.endpointName)).not.toBe(
      endpointConfigNamePrefix(endpoints.churn!.endpointName),
    );
  });

  it('grants the rollout role SageMaker calls on its endpoint and name prefix only, and PassRole for the execution role', () => {
    const statements = allowsOf(rolloutRole());
    const fraud = endpoints['fraud-score']!.endpointName;
    const byAction = (action: string) =>
      statements.filter((s) => asArray(s.Action).includes(action)).map((s) => s.Resource);
    const onBoth = (fn: (model: Model) => unknown) => [fn('fraud-score'), fn('churn')];
    const endpointName = (model: Model) => endpoints[model]!.endpointName;
    expect(byAction('sagemaker:DescribeEndpoint')).toEqual(onBoth((m) => ({ Ref: endpointId(m) })));
    expect(byAction('sagemaker:UpdateEndpoint')).toEqual(
      onBoth((m) => [
        { Ref: endpointId(m) },
        sageMakerArnPattern('endpoint-config', endpointConfigNamePrefix(endpointName(m))),
      ]),
    );
    for (const action of ['sagemaker:CreateEndpointConfig', 'sagemaker:DeleteEndpointConfig']) {
      expect(byAction(action)).toEqual(
        onBoth((m) => sageMakerArnPattern('endpoint-config', endpointConfigNamePrefix(endpointName(m)))),
      );
    }
    expect(byAction('sagemaker:CreateModel')).toEqual(
      onBoth((m) => sageMakerArnPattern('model', modelNamePrefix(endpointName(m)))),
    );
    const passRole = statements.filter((s) => asArray(s.Action).includes('iam:PassRole'));
    expect(passRole).toEqual(
      onBoth((m) =>
        expect.objectContaining({
          Resource: { 'Fn::GetAtt': [id('AWS::IAM::Role', m, 'ExecutionRole'), 'Arn'] },
          Condition: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
        }),
      ),
    );
    // Only the real-time endpoint has a volume key to grant.
    expect(byAction('kms:CreateGrant')).toEqual([
      { 'Fn::GetAtt': [id('AWS::KMS::Key', 'fraud-score', 'VolumeKey'), 'Arn'] },
    ]);
    const actions = new Set(statements.flatMap((s) => asArray(s.Action)));
    expect(actions).toEqual(
      new Set([
        'sagemaker:DescribeEndpoint',
        'sagemaker:UpdateEndpoint',
        'sagemaker:CreateEndpointConfig',
        'sagemaker:DeleteEndpointConfig',
        'sagemaker:CreateModel',
        'iam:PassRole',
        'kms:CreateGrant',
        'kms:DescribeKey',
      ]),
    );
    expect(JSON.stringify(statements)).not.toMatch(/"\*"|sagemaker:\*|DeleteEndpoint"|DeleteModel/);
    expect(fraud).toMatch(SAGEMAKER_NAME_PATTERN);
  });

  it('keeps the CloudFormation endpoint on its initial config (the rollout owns later ones)', () => {
    expect(resources[endpointId('fraud-score')]?.Properties.EndpointConfigName).toEqual({
      'Fn::GetAtt': [
        id('AWS::SageMaker::EndpointConfig', 'fraud-score', 'EndpointConfig'),
        'EndpointConfigName',
      ],
    });
    // The stack's own config has a CloudFormation-generated name, outside the prefix the rollout may delete.
    expect(
      props(id('AWS::SageMaker::EndpointConfig', 'fraud-score', 'EndpointConfig')).EndpointConfigName,
    ).toBeUndefined();
  });
});

describe('SageMakerEndpoint with cdk-nag', () => {
  it('leaves no unacknowledged finding', () => {
    const report = JSON.parse(
      fs.readFileSync(path.join(synth.assembly.directory, 'validation-report.json'), 'utf8'),
    ) as { pluginReports: { violations: { ruleName: string }[] }[] };
    expect(report.pluginReports.flatMap((r) => r.violations.map((v) => v.ruleName))).toEqual([]);
  });
});

describe('SageMakerEndpoint props validation', () => {
  const valid: Omit<SageMakerEndpointProps, 'registry' | 'deployments' | 'modelVersions'> = {
    modelName: 'fraud-score',
    metricsNamespace: 'ModelOps',
    logRetention: RetentionDays.ONE_DAY,
    image: IMAGE,
    modelDataKey: 'models/fraud-score/1/x.tar.gz',
    version: '1',
    variant: { kind: 'realtime', instanceType: 'ml.m5.large', initialInstanceCount: 1 },
  };
  function endpointWith(extra: Partial<SageMakerEndpointProps>): () => void {
    const s = testStack('Validation');
    const registry = new ArtifactRegistry(s, 'Registry', {
      noncurrentVersionExpirationDays: 1,
      incomingExpirationDays: 1,
      accessLogDays: 1,
    });
    const tables = new MetadataTables(s, 'Tables');
    return () =>
      new SageMakerEndpoint(s, 'Endpoint', {
        ...valid,
        registry,
        deployments: tables.deployments,
        modelVersions: tables.modelVersions,
        ...extra,
      });
  }

  it('rejects an image outside ECR', () => {
    expect(endpointWith({ image: 'nginx:latest' })).toThrow(ConstructPropsError);
    expect(endpointWith({ image: 'nginx:latest' })).toThrow(
      /image must be a literal ECR image URI.*"nginx:latest"/,
    );
  });

  it('serves a version that ends in a separator (its variant name is hashed, not refused)', () => {
    expect(endpointWith({ version: '1.', modelDataKey: 'models/fraud-score/1./x.tar.gz' })).not.toThrow();
  });

  it('rejects model data outside the served version and a bad serverless size', () => {
    expect(endpointWith({ modelDataKey: 'models/fraud-score/2/x.tar.gz' })).toThrow(
      /modelDataKey must be a registered artifact under models\/fraud-score\/1\//,
    );
    expect(
      endpointWith({ variant: { kind: 'serverless', memorySizeInMb: 1500, maxConcurrency: 1 } }),
    ).toThrow(/memorySizeInMb must be a multiple of 1024, got 1500/);
    expect(
      endpointWith({
        variant: { kind: 'serverless', memorySizeInMb: 1024, maxConcurrency: 2, provisionedConcurrency: 3 },
      }),
    ).toThrow(/provisionedConcurrency must be a whole number between 1 and 2, got 3/);
  });
});
