import { Aws, Names, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type { ScalableTarget } from 'aws-cdk-lib/aws-applicationautoscaling';
import type { Metric, MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import { Grant, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Alias, FunctionUrl } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { CfnEndpoint, CfnEndpointConfig, CfnModel } from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import { ECR_IMAGE_URI_PATTERN, SAGEMAKER_INSTANCE_TYPE_PATTERN } from '../config';
import { variantNameFor } from '../../lambdas/core/keys';
import {
  endpointConfigNamePrefix,
  modelNamePrefix,
  type SageMakerTargetSettings,
} from '../../lambdas/core/rollout-target';
import { VERSION_PATTERN } from '../../lambdas/core/manifest';
import { PREFIX } from '../../lambdas/core/tables';
import { INFERENCE_ENV } from '../../lambdas/shared/env';
import { FunctionEntryPoint } from './function-entry-point';
import type { ServingFunctionOptions } from './function-entry-point';
import { ModelMetrics } from './model-endpoint';
import type { IModelEndpoint } from './model-endpoint';
import { ConstructPropsError, handlerEntry, ManagedPolicyRole } from './modelops-function';
import type { ModelOpsFunction } from './modelops-function';

/** A real-time production variant on dedicated instances. */
export interface RealtimeVariant {
  readonly kind: 'realtime';
  /** e.g. `ml.m5.large`. */
  readonly instanceType: string;
  readonly initialInstanceCount: number;
}

/** A serverless production variant; `provisionedConcurrency` keeps that many invocations warm. */
export interface ServerlessVariant {
  readonly kind: 'serverless';
  /** 1024–6144, a multiple of 1024. */
  readonly memorySizeInMb: number;
  /** 1–200. */
  readonly maxConcurrency: number;
  /**
   * 1–`maxConcurrency`.
   * @default - none (cold starts on demand)
   */
  readonly provisionedConcurrency?: number;
}

export type SageMakerVariant = RealtimeVariant | ServerlessVariant;

export interface SageMakerEndpointProps extends ServingFunctionOptions {
  /** Inference container image URI in ECR (`<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`). */
  readonly image: string;
  /** Registry key of the served version's registered `model.tar.gz`, under `models/<name>/<version>/`. */
  readonly modelDataKey: string;
  /**
   * The initial version: CloudFormation creates the endpoint serving it, in variant `variantNameFor(version)`.
   * After that the release pipeline owns the endpoint's config (`grantRollout`): it adds the candidate's variant
   * and, after promote or rollback, switches to a config with only the kept version. Leave this at the version the
   * stack was first deployed with: CloudFormation updates the endpoint only when its template changes, so an
   * unchanged `version` (and image, model data, variant) never undoes a rollout, while a changed one switches the
   * endpoint back to a single variant of this version on the next deploy.
   */
  readonly version: string;
  readonly variant: SageMakerVariant;
  /**
   * KMS key of the ML storage volumes of real-time instances (ignored for serverless variants and for instance
   * types with local instance storage, where SageMaker refuses a key).
   * @default - a new customer-managed key with rotation, retained on deletion
   */
  readonly volumeEncryptionKey?: IKey;
  /**
   * Run the container without network access: it can only receive the model data SageMaker downloads for it.
   * @default true
   */
  readonly networkIsolation?: boolean;
}

/** SageMaker rejects a volume KMS key for Nitro instance types with local NVMe storage (m5d, g4dn, g5, p4d, …). */
export function hasLocalInstanceStorage(instanceType: string): boolean {
  const family = instanceType.split('.')[1] ?? '';
  return /^[a-z]+\d+[a-z]*d[a-z]*$/.test(family) || /^(g5|g6|g6e|p5|p5e|p5en|trn1|trn1n|trn2)$/.test(family);
}

/**
 * Serving for a model with target `sagemaker` (L1 resources): an execution role limited to `models/*` (with KMS
 * decrypt through S3), pulling its one ECR repository and writing its one log group; a `CfnModel`; an endpoint config
 * with a single production variant `variantNameFor(version)` — real-time instances (volume KMS-encrypted where
 * SageMaker allows it) or serverless (optionally with provisioned concurrency) — and data capture off (the router
 * captures); a `CfnEndpoint` with a deterministic name so its log group can be created here with retention and
 * encryption.
 *
 * In front of it, a router function with the same entry point shape as `InferenceEndpoint` (alias `live`, Function
 * URL with AWS_IAM auth, provisioned concurrency and scaling) runs the same inference app and calls
 * `sagemaker:InvokeEndpoint` on this endpoint only, with `TargetVariant = variantNameFor(version)` of the version
 * routing chose; it also answers DeployCandidate's warm-up, which smoke-tests a candidate's variant through it.
 */
export class SageMakerEndpoint extends Construct implements IModelEndpoint {
  public readonly modelName: string;
  public readonly role: ManagedPolicyRole;
  public readonly model: CfnModel;
  public readonly endpointConfig: CfnEndpointConfig;
  public readonly endpoint: CfnEndpoint;
  /** SageMaker's log group for the endpoint, `/aws/sagemaker/Endpoints/<endpointName>`. */
  public readonly logGroup: LogGroup;
  /** Production variant name of the initial version: `variantNameFor(props.version)`. */
  public readonly variantName: string;
  /** The endpoint's name (deterministic, derived from the construct path). */
  public readonly endpointName: string;
  /**
   * What the rollout's SageMaker target needs (lambdas/adapters/sagemaker-rollout-target.ts): endpoint name,
   * execution role ARN, image, registry bucket, variant shape and volume key, the same the initial config uses.
   */
  public readonly rolloutSettings: SageMakerTargetSettings;
  /** Only for real-time variants whose instance type accepts a volume key. */
  public readonly volumeEncryptionKey?: IKey;
  public readonly function: ModelOpsFunction;
  public readonly alias: Alias;
  public readonly functionUrl: FunctionUrl;
  /** Only when `provisionedConcurrency.max` > 0. */
  public readonly scalableTarget?: ScalableTarget;
  private readonly entryPoint: FunctionEntryPoint;
  private readonly metrics: ModelMetrics;

  constructor(scope: Construct, id: string, props: SageMakerEndpointProps) {
    super(scope, id);
    this.modelName = props.modelName;
    this.metrics = new ModelMetrics({ namespace: props.metricsNamespace, modelName: props.modelName });
    const image = parseImage(props.image);
    validateProps(props);
    const { registry, variant } = props;
    this.variantName = variantNameFor(props.version);
    this.endpointName = Names.uniqueResourceName(this, { maxLength: 63, separator: '-' });

    this.logGroup = new LogGroup(this, 'EndpointLogGroup', {
      logGroupName: `/aws/sagemaker/Endpoints/${this.endpointName}`,
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.role = new ManagedPolicyRole(this, 'ExecutionRole', {
      // Confused-deputy protection: SageMaker may assume it only on behalf of this account's resources.
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: `SageMaker execution role of ${props.modelName}: reads models/, pulls its image, writes its logs`,
    });
    registry.grantReadModels(this.role);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PullInferenceImage',
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        resources: [image.repositoryArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'EcrLogin',
        // No resource-level permissions exist for this action.
        actions: ['ecr:GetAuthorizationToken'],
        resources: ['*'],
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'WriteEndpointLogs',
        actions: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'logs:DescribeLogStreams',
        ],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PublishInstanceMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/Endpoints' } },
      }),
    );
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only ecr:GetAuthorizationToken and cloudwatch:PutMetricData use Resource "*": neither supports ' +
        'resource-level permissions. PutMetricData is limited to the /aws/sagemaker/Endpoints namespace by a ' +
        'condition; image pulls name the one ECR repository and logs name the endpoint log group.',
    });

    this.model = new CfnModel(this, 'Model', {
      executionRoleArn: this.role.roleArn,
      enableNetworkIsolation: props.networkIsolation ?? true,
      primaryContainer: {
        image: props.image,
        mode: 'SingleModel',
        modelDataUrl: `s3://${registry.bucket.bucketName}/${props.modelDataKey}`,
      },
    });
    // SageMaker checks the role's access to the image and the model data when the model is created.
    this.model.node.addDependency(this.role.policy);

    let productionVariant: CfnEndpointConfig.ProductionVariantProperty;
    let kmsKeyId: string | undefined;
    if (variant.kind === 'realtime') {
      productionVariant = {
        variantName: this.variantName,
        modelName: this.model.attrModelName,
        instanceType: variant.instanceType,
        initialInstanceCount: variant.initialInstanceCount,
        initialVariantWeight: 1,
      };
      if (!hasLocalInstanceStorage(variant.instanceType)) {
        this.volumeEncryptionKey =
          props.volumeEncryptionKey ??
          new Key(this, 'VolumeKey', {
            description: `SageMaker endpoint volumes of ${props.modelName}`,
            enableKeyRotation: true,
            removalPolicy: RemovalPolicy.RETAIN,
          });
        kmsKeyId = this.volumeEncryptionKey.keyArn;
      }
    } else {
      productionVariant = {
        variantName: this.variantName,
        modelName: this.model.attrModelName,
        serverlessConfig: {
          memorySizeInMb: variant.memorySizeInMb,
          maxConcurrency: variant.maxConcurrency,
          provisionedConcurrency: variant.provisionedConcurrency,
        },
      };
    }
    // No names on the model and the config: changing the image, model data or variant replaces them, and the
    // endpoint (named) is updated in place to the new config.
    this.endpointConfig = new CfnEndpointConfig(this, 'EndpointConfig', {
      productionVariants: [productionVariant],
      kmsKeyId,
    });
    if (kmsKeyId === undefined) {
      Validations.of(this.endpointConfig).acknowledge({
        id: 'NIST.800.53.R5::NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured',
        reason:
          variant.kind === 'serverless'
            ? 'Serverless variants do not accept KmsKeyId (CloudFormation/SageMaker reject it); serverless ' +
              'inference storage is encrypted by SageMaker with an AWS-owned key.'
            : `Instance type ${variant.instanceType} has local NVMe instance storage, for which SageMaker refuses ` +
              'a KmsKeyId; those volumes are encrypted by the instance hardware module.',
      });
    }

    // The initial config only: from the first rollout on, the endpoint runs configs the rollout creates (named
    // `endpointConfigNamePrefix(endpointName)…`); CloudFormation keeps this one, so a stack delete still finds it.
    this.endpoint = new CfnEndpoint(this, 'Endpoint', {
      endpointName: this.endpointName,
      endpointConfigName: this.endpointConfig.attrEndpointConfigName,
    });
    this.endpoint.node.addDependency(this.logGroup);
    this.rolloutSettings = {
      endpointName: this.endpointName,
      executionRoleArn: this.role.roleArn,
      image: props.image,
      registryBucketName: registry.bucket.bucketName,
      variant,
      ...(kmsKeyId !== undefined ? { kmsKeyId } : {}),
      networkIsolation: props.networkIsolation ?? true,
    };

    this.entryPoint = new FunctionEntryPoint(this, 'Router', {
      ...props,
      entry: handlerEntry('sagemaker-router'), // the same inference app with a SageMaker backend
      serviceName: 'sagemaker-router',
      description: `Routes ${props.modelName} requests to SageMaker endpoint variants (POST /models/${props.modelName}/invoke)`,
      environment: { [INFERENCE_ENV.sageMakerEndpointName]: this.endpoint.attrEndpointName },
    });
    this.function = this.entryPoint.function;
    this.alias = this.entryPoint.alias;
    this.functionUrl = this.entryPoint.functionUrl;
    this.scalableTarget = this.entryPoint.scalableTarget;
    this.function.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'InvokeOwnEndpoint',
        actions: ['sagemaker:InvokeEndpoint'],
        // Ref of AWS::SageMaker::Endpoint is its ARN.
        resources: [this.endpoint.ref],
      }),
    );
  }

  /** The router's environments DeployCandidate warms with the candidate's smoke samples once its variant is InService. */
  get warmEnvironments(): number {
    return Math.max(1, this.entryPoint.provisionedConcurrencyMin);
  }

  /** The HTTPS URL of the router's entry point (ends in `/`); requests go to `<url>models/<name>/invoke`. */
  get url(): string {
    return this.functionUrl.url;
  }

  /**
   * What the rollout's SageMaker target calls, on this endpoint only: `DescribeEndpoint` and `UpdateEndpoint` on the
   * endpoint; `CreateModel` on models named `modelNamePrefix(endpointName)*`; `CreateEndpointConfig`,
   * `DeleteEndpointConfig` (and `UpdateEndpoint`'s config side) on configs named
   * `endpointConfigNamePrefix(endpointName)*` — so it can neither touch another endpoint's resources nor delete the
   * stack's initial config; `iam:PassRole` for the execution role only, passed to SageMaker only; and, with a volume
   * key, `kms:CreateGrant`/`kms:DescribeKey` on it for AWS resources only (SageMaker grants itself the key for the
   * new instances' volumes with the caller's permissions).
   */
  grantRollout(grantee: IGrantable): Grant {
    const stack = Stack.of(this);
    const arn = (resource: string, resourceName: string) =>
      stack.formatArn({ service: 'sagemaker', resource, resourceName });
    // SageMaker lower-cases names in ARNs; the prefixes are lower-case already (rolloutNamePrefix).
    const configs = arn('endpoint-config', `${endpointConfigNamePrefix(this.endpointName)}*`);
    const models = arn('model', `${modelNamePrefix(this.endpointName)}*`);
    let grant = Grant.addToPrincipal({
      grantee,
      actions: ['sagemaker:DescribeEndpoint'],
      resourceArns: [this.endpoint.ref],
    })
      .combine(
        Grant.addToPrincipal({
          grantee,
          actions: ['sagemaker:UpdateEndpoint'],
          resourceArns: [this.endpoint.ref, configs],
        }),
      )
      .combine(
        Grant.addToPrincipal({
          grantee,
          actions: ['sagemaker:CreateEndpointConfig', 'sagemaker:DeleteEndpointConfig'],
          resourceArns: [configs],
        }),
      )
      .combine(Grant.addToPrincipal({ grantee, actions: ['sagemaker:CreateModel'], resourceArns: [models] }));
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );
    if (this.volumeEncryptionKey !== undefined) {
      grant = grant.combine(
        Grant.addToPrincipal({
          grantee,
          actions: ['kms:CreateGrant', 'kms:DescribeKey'],
          resourceArns: [this.volumeEncryptionKey.keyArn],
        }),
      );
    }
    const principal = grantee.grantPrincipal;
    if (Construct.isConstruct(principal)) {
      for (const [resource, name, what] of [
        ['endpoint-config', endpointConfigNamePrefix(this.endpointName), 'endpoint configs'],
        ['model', modelNamePrefix(this.endpointName), 'models'],
      ] as const) {
        Validations.of(principal).acknowledge({
          // cdk-nag prints the formatArn pseudo parameters as <AWS::…>.
          id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:${resource}/${name}*]`,
          reason:
            `The rollout creates ${what} named by content hash at run time; the grant is limited to this ` +
            `endpoint's name prefix (${name}*), so no other endpoint's ${what} are reachable.`,
        });
      }
    }
    return grant;
  }

  /** Lets `grantee` call the router's Function URL (alias `live` only). */
  grantInvoke(grantee: IGrantable): Grant {
    return this.entryPoint.grantInvoke(grantee);
  }

  // The router emits the inference app's metrics (SageMaker's own endpoint metrics are in AWS/SageMaker).
  metricRequests(version?: string, props?: MetricOptions): Metric {
    return this.metrics.requests(version, props);
  }

  metricErrors(version?: string, props?: MetricOptions): Metric {
    return this.metrics.errors(version, props);
  }

  metricInvalidInput(version?: string, props?: MetricOptions): Metric {
    return this.metrics.invalidInput(version, props);
  }

  metricLatency(version?: string, props?: MetricOptions): Metric {
    return this.metrics.latency(version, props);
  }

  metricSlowRequests(version?: string, props?: MetricOptions): Metric {
    return this.metrics.slowRequests(version, props);
  }
}

function fail(message: string): never {
  throw new ConstructPropsError(`SageMakerEndpoint: ${message}`);
}

function parseImage(image: string): { repositoryArn: string } {
  const match = ECR_IMAGE_URI_PATTERN.exec(image);
  if (Token.isUnresolved(image) || !match) {
    fail(
      `image must be a literal ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>), got ${JSON.stringify(image)}`,
    );
  }
  const [, account, region, china, repository] = match;
  const partition = china ? 'aws-cn' : Aws.PARTITION;
  return { repositoryArn: `arn:${partition}:ecr:${region}:${account}:repository/${repository}` };
}

function validateProps(props: SageMakerEndpointProps): void {
  const { variant } = props;
  if (!VERSION_PATTERN.test(props.version)) {
    fail(
      `version must be a registered version (A-Z, a-z, 0-9, ".", "_", "-"), got ${JSON.stringify(props.version)}`,
    );
  }
  const versionDir = `${PREFIX.models}${props.modelName}/${props.version}/`;
  if (!props.modelDataKey.startsWith(versionDir) || props.modelDataKey.includes('..')) {
    fail(
      `modelDataKey must be a registered artifact under ${versionDir}, got ${JSON.stringify(props.modelDataKey)}`,
    );
  }
  const whole = (name: string, value: number, min: number, max: number): void => {
    if (!Number.isInteger(value) || value < min || value > max) {
      fail(`variant.${name} must be a whole number between ${min} and ${max}, got ${value}`);
    }
  };
  if (variant.kind === 'realtime') {
    if (!SAGEMAKER_INSTANCE_TYPE_PATTERN.test(variant.instanceType)) {
      fail(
        `variant.instanceType must be a SageMaker instance type such as ml.m5.large, got ${JSON.stringify(variant.instanceType)}`,
      );
    }
    whole('initialInstanceCount', variant.initialInstanceCount, 1, 100);
  } else {
    whole('memorySizeInMb', variant.memorySizeInMb, 1024, 6144);
    if (variant.memorySizeInMb % 1024 !== 0) {
      fail(`variant.memorySizeInMb must be a multiple of 1024, got ${variant.memorySizeInMb}`);
    }
    whole('maxConcurrency', variant.maxConcurrency, 1, 200);
    if (variant.provisionedConcurrency !== undefined) {
      whole('provisionedConcurrency', variant.provisionedConcurrency, 1, variant.maxConcurrency);
    }
  }
}
