import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { ModelSigningKey } from '../../lib/constructs/signing-key';

// GIVEN a signing key, one signer and one verifier
const stack = new Stack(new App(), 'SigningKeyTest');
const signing = new ModelSigningKey(stack, 'ModelSigningKey', { aliasName: 'modelops-test-model-signing' });
const signer = new Role(stack, 'Signer', { assumedBy: new AccountRootPrincipal() });
const verifier = new Role(stack, 'Verifier', { assumedBy: new AccountRootPrincipal() });
signing.grantSign(signer);
signing.grantVerify(verifier);
const template = Template.fromStack(stack);
const keyId = stack.getLogicalId(signing.key.node.defaultChild as never);

function statementsOf(role: Role): unknown[] {
  const roleId = stack.getLogicalId(role.node.defaultChild as never);
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p).includes(`{"Ref":"${roleId}"}`))
    .flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument
          .Statement,
    );
}

const onlyDigestEcdsa = {
  StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'DIGEST' },
};

describe('ModelSigningKey', () => {
  it('is an asymmetric ECC_NIST_P256 SIGN_VERIFY key without rotation, retained, with an alias', () => {
    const key = template.toJSON().Resources[keyId];
    expect(key).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(key.Properties).toMatchObject({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    // KMS rotates symmetric keys only; EnableKeyRotation must not be true on this key.
    expect(key.Properties.EnableKeyRotation).not.toBe(true);
    template.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/modelops-test-model-signing',
      TargetKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
  });

  it('grants the signer kms:Sign only, limited to ECDSA_SHA_256 over a digest', () => {
    expect(statementsOf(signer)).toEqual([
      {
        Effect: 'Allow',
        Action: 'kms:Sign',
        Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
        Condition: onlyDigestEcdsa,
      },
    ]);
  });

  it('grants the verifier kms:Verify (same conditions) and kms:GetPublicKey, never kms:Sign', () => {
    const statements = statementsOf(verifier);
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: 'kms:Verify',
        Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
        Condition: onlyDigestEcdsa,
      },
      { Effect: 'Allow', Action: 'kms:GetPublicKey', Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } },
    ]);
  });

  it('rejects an alias in the aws/ namespace, naming the value', () => {
    expect(
      () => new ModelSigningKey(new Stack(new App(), 'Bad'), 'Key', { aliasName: 'alias/aws/s3' }),
    ).toThrow(/aliasName must be .* not start with "aws\/", got "alias\/aws\/s3"/);
  });
});
