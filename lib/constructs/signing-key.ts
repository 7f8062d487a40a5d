import { RemovalPolicy } from 'aws-cdk-lib';
import { Grant } from 'aws-cdk-lib/aws-iam';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Alias, Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ConstructPropsError } from './modelops-function';

export interface ModelSigningKeyProps {
  /** Alias name, with or without the `alias/` prefix, e.g. `modelops-dev-model-signing`. */
  readonly aliasName: string;
  /**
   * Key description shown in the KMS console.
   * @default 'modelops model signing'
   */
  readonly description?: string;
}

/** The only algorithm and message type the grants allow: ECDSA P-256 over a SHA-256 digest computed by the caller. */
export const MODEL_SIGNING_ALGORITHM = 'ECDSA_SHA_256';
export const MODEL_SIGNING_MESSAGE_TYPE = 'DIGEST';

const ALIAS_PATTERN = /^(alias\/)?[a-zA-Z0-9/_-]{1,250}$/;

/**
 * Asymmetric KMS key that signs registered model versions: RegisterVersion signs each artifact's SHA-256 digest
 * (`kms:Sign`), serving functions verify it before loading a model (`kms:Verify`, `kms:GetPublicKey`). ECC_NIST_P256,
 * SIGN_VERIFY, retained on stack deletion (signatures in the ledger must stay verifiable), with an alias.
 *
 * No automatic rotation: KMS rotates symmetric keys only. Rotating a signing key means a new key (and alias target)
 * while the old one stays for verifying existing signatures.
 *
 * @example
 * const signing = new ModelSigningKey(this, 'ModelSigningKey', { aliasName: 'modelops-dev-model-signing' });
 * signing.grantSign(release.registerVersion);
 * signing.grantVerify(endpoint.function);
 */
export class ModelSigningKey extends Construct {
  public readonly key: Key;
  public readonly alias: Alias;

  constructor(scope: Construct, id: string, props: ModelSigningKeyProps) {
    super(scope, id);
    if (!ALIAS_PATTERN.test(props.aliasName) || props.aliasName.replace(/^alias\//, '').startsWith('aws/')) {
      throw new ConstructPropsError(
        `ModelSigningKey: aliasName must be 1-250 characters of a-z, A-Z, 0-9, "/", "_", "-" and not start with ` +
          `"aws/", got ${JSON.stringify(props.aliasName)}`,
      );
    }
    this.key = new Key(this, 'Key', {
      description: props.description ?? 'modelops model signing',
      keySpec: KeySpec.ECC_NIST_P256,
      keyUsage: KeyUsage.SIGN_VERIFY,
      enableKeyRotation: false,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const name = props.aliasName.startsWith('alias/') ? props.aliasName : `alias/${props.aliasName}`;
    this.alias = new Alias(this, 'Alias', { aliasName: name, targetKey: this.key });
    // No cdk-nag acknowledgement needed: both packs' key-rotation rules (AwsSolutions-KMS5,
    // NIST.800.53.R5-KMSBackingKeyRotationEnabled) apply to symmetric keys only and skip this one.
  }

  /** ARN of the key: the `KeyId` the signer adapters use (`MODEL_SIGNING_KEY_ID`). */
  get keyArn(): string {
    return this.key.keyArn;
  }

  /** `kms:Sign` on this key, only with ECDSA_SHA_256 over a digest. For RegisterVersion. */
  grantSign(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['kms:Sign'],
      resourceArns: [this.key.keyArn],
      conditions: {
        StringEquals: {
          'kms:SigningAlgorithm': MODEL_SIGNING_ALGORITHM,
          'kms:MessageType': MODEL_SIGNING_MESSAGE_TYPE,
        },
      },
    });
  }

  /**
   * `kms:Verify` (only ECDSA_SHA_256 over a digest) and `kms:GetPublicKey` (to verify offline, without a KMS call per
   * model load) on this key. For serving functions.
   */
  grantVerify(grantee: IGrantable): Grant {
    const verify = Grant.addToPrincipal({
      grantee,
      actions: ['kms:Verify'],
      resourceArns: [this.key.keyArn],
      conditions: {
        StringEquals: {
          'kms:SigningAlgorithm': MODEL_SIGNING_ALGORITHM,
          'kms:MessageType': MODEL_SIGNING_MESSAGE_TYPE,
        },
      },
    });
    // GetPublicKey supports neither condition key.
    const publicKey = Grant.addToPrincipal({
      grantee,
      actions: ['kms:GetPublicKey'],
      resourceArns: [this.key.keyArn],
    });
    return verify.combine(publicKey);
  }
}
