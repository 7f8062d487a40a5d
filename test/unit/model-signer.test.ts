import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { VerifyCommand } from '@aws-sdk/client-kms';
import { KMSInvalidSignatureException, SignCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { KmsModelSigner } from '../../lambdas/adapters/kms-signer';
import { LOCAL_SIGNING_KEY_FILE, LocalModelSigner } from '../../lambdas/adapters/local-signer';

const digest = createHash('sha256').update('model bytes').digest();

describe('LocalModelSigner', () => {
  it('round-trips, keeps the key at mode 0600 and reopens the same key', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signer-'));
    const signer = LocalModelSigner.open(dir);
    const signature = await signer.sign(digest);
    expect(await signer.verify(digest, signature)).toBe(true);
    expect(fs.statSync(path.join(dir, LOCAL_SIGNING_KEY_FILE)).mode & 0o777).toBe(0o600);
    const again = LocalModelSigner.open(dir);
    expect(again.keyId).toBe(signer.keyId);
    expect(await again.verify(digest, signature)).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fails a tampered digest and a garbage signature, and refuses a non-SHA-256 digest', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signer-'));
    const signer = LocalModelSigner.open(dir);
    const signature = await signer.sign(digest);
    const tampered = Uint8Array.from(digest);
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    expect(await signer.verify(tampered, signature)).toBe(false);
    expect(await signer.verify(digest, new Uint8Array([1, 2, 3]))).toBe(false);
    await expect(signer.sign(new Uint8Array(31))).rejects.toThrow(/32 bytes .* got 31/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('KmsModelSigner', () => {
  it('sends Sign and Verify with MessageType DIGEST and ECDSA_SHA_256', async () => {
    const sent: unknown[] = [];
    const client = {
      send: (command: unknown) => {
        sent.push(command);
        if (command instanceof SignCommand) return Promise.resolve({ Signature: new Uint8Array([9]) });
        return Promise.resolve({ SignatureValid: true });
      },
    };
    const signer = new KmsModelSigner(client as never, 'arn:aws:kms:eu-west-1:123456789012:key/k');
    expect(await signer.sign(digest)).toEqual(new Uint8Array([9]));
    expect(await signer.verify(digest, new Uint8Array([9]))).toBe(true);
    expect((sent[0] as SignCommand).input).toEqual({
      KeyId: 'arn:aws:kms:eu-west-1:123456789012:key/k',
      Message: digest,
      MessageType: 'DIGEST',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    expect((sent[1] as VerifyCommand).input).toEqual({
      KeyId: 'arn:aws:kms:eu-west-1:123456789012:key/k',
      Message: digest,
      MessageType: 'DIGEST',
      Signature: new Uint8Array([9]),
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
  });

  it('answers false when KMS reports an invalid signature', async () => {
    const client = {
      send: () => Promise.reject(new KMSInvalidSignatureException({ message: 'invalid', $metadata: {} })),
    };
    const signer = new KmsModelSigner(client as never, 'k');
    expect(await signer.verify(digest, new Uint8Array([1]))).toBe(false);
  });
});
