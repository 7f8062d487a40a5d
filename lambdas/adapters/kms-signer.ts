/** ModelSigner over an asymmetric KMS key: Sign/Verify with MessageType DIGEST and ECDSA_SHA_256. */
import { KMSInvalidSignatureException, SignCommand, VerifyCommand } from '@aws-sdk/client-kms';
import type { KMSClient } from '@aws-sdk/client-kms';
import { MODEL_DIGEST_BYTES } from '../core/ports';
import type { ModelSigner } from '../core/ports';

export class KmsModelSigner implements ModelSigner {
  constructor(
    private readonly client: Pick<KMSClient, 'send'>,
    readonly keyId: string,
  ) {}

  async sign(digest: Uint8Array): Promise<Uint8Array> {
    checkDigest(digest);
    const out = await this.client.send(
      new SignCommand({
        KeyId: this.keyId,
        Message: digest,
        MessageType: 'DIGEST',
        SigningAlgorithm: 'ECDSA_SHA_256',
      }),
    );
    if (out.Signature === undefined) throw new Error(`KMS Sign with ${this.keyId} returned no signature`);
    return out.Signature;
  }

  async verify(digest: Uint8Array, signature: Uint8Array): Promise<boolean> {
    checkDigest(digest);
    try {
      const out = await this.client.send(
        new VerifyCommand({
          KeyId: this.keyId,
          Message: digest,
          MessageType: 'DIGEST',
          Signature: signature,
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      );
      return out.SignatureValid === true;
    } catch (err) {
      // KMS answers an invalid signature with an exception, not SignatureValid: false.
      if (err instanceof KMSInvalidSignatureException) return false;
      throw err;
    }
  }
}

function checkDigest(digest: Uint8Array): void {
  if (digest.length !== MODEL_DIGEST_BYTES) {
    throw new RangeError(
      `ModelSigner: digest must be ${MODEL_DIGEST_BYTES} bytes (SHA-256), got ${digest.length}`,
    );
  }
}
