/** Signature verification before a version's first load (version-loader.ts `checkSignature`). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalModelSigner } from '../../lambdas/adapters/local-signer';
import type { ModelSigner } from '../../lambdas/core/ports';
import { createVersionLoader, LedgerMismatchError } from '../../lambdas/inference/version-loader';
import { FakeRegistry } from './fakes';
import { exampleBundle, fakeBackend, ledgerFor, MemoryLogger, publish } from './inference-helpers';

const BC = 'breast-cancer';
const breastCancer = exampleBundle(BC);
const TTL_MS = 1_000;
const signer = LocalModelSigner.open(mkdtempSync(path.join(tmpdir(), 'verify-')));

async function signatureOf(sha256: string, by: ModelSigner = signer): Promise<string> {
  return Buffer.from(await by.sign(Buffer.from(sha256, 'hex'))).toString('base64');
}

function setup(verifier: ModelSigner | null = signer) {
  const registry = new FakeRegistry();
  const manifest = publish(registry, breastCancer, '1.0.0');
  const sha256 = manifest.artifact.sha256;
  const backend = fakeBackend({});
  const clock = { now: 0 };
  const loader = createVersionLoader({
    model: BC,
    registry,
    versions: ledgerFor(registry),
    backend,
    logger: new MemoryLogger(),
    maxErrors: 100,
    failureTtlMs: TTL_MS,
    now: () => clock.now,
    ...(verifier ? { signer: verifier } : {}),
  });
  const sign = async (fields: { signature?: string; signingKeyId?: string }) =>
    ledgerFor(registry).patch(BC, '1.0.0', fields);
  return { loader, registry, backend, sha256, sign, clock };
}

async function refusal(promise: Promise<unknown>): Promise<LedgerMismatchError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LedgerMismatchError);
  return error as LedgerMismatchError;
}

describe('version loader signature check', () => {
  it('loads a version whose record signature verifies over its sha256', async () => {
    const { loader, backend, sha256, sign } = setup();
    await sign({ signature: await signatureOf(sha256), signingKeyId: signer.keyId });
    await expect(loader.load('1.0.0')).resolves.toMatchObject({ state: { version: '1.0.0' } });
    expect(backend.loads).toEqual(['1.0.0']);
  });

  it('refuses for good, before fetching the artifact, a record without a signature', async () => {
    const { loader, backend, registry, clock } = setup();
    const error = await refusal(loader.load('1.0.0'));
    expect(error.check).toBe('signature');
    expect(error.permanent).toBe(true);
    expect(error.message).toMatch(/has no signature/);
    expect(registry.calls.some((c) => c.startsWith('readBytes'))).toBe(false);
    expect(backend.loads).toEqual([]);
    clock.now = 10 * TTL_MS;
    expect((await refusal(loader.load('1.0.0'))).check).toBe('signature');
  });

  it('refuses a signature over another digest', async () => {
    const { loader, backend, sha256, sign } = setup();
    const other = (sha256.startsWith('0') ? '1' : '0') + sha256.slice(1);
    await sign({ signature: await signatureOf(other), signingKeyId: signer.keyId });
    const error = await refusal(loader.load('1.0.0'));
    expect(error.check).toBe('signature');
    expect(error.message).toMatch(/does not verify/);
    expect(backend.loads).toEqual([]);
  });

  it('refuses a record signed by another key', async () => {
    const { loader, sha256, sign } = setup();
    const otherSigner = LocalModelSigner.open(mkdtempSync(path.join(tmpdir(), 'other-')));
    await sign({ signature: await signatureOf(sha256, otherSigner), signingKeyId: otherSigner.keyId });
    const error = await refusal(loader.load('1.0.0'));
    expect(error.check).toBe('signature');
    expect(error.actual).toBe(otherSigner.keyId);
  });

  it('does not check signatures without a signer', async () => {
    const { loader, backend } = setup(null);
    await expect(loader.load('1.0.0')).resolves.toMatchObject({ state: { version: '1.0.0' } });
    expect(backend.loads).toEqual(['1.0.0']);
  });

  it('treats a signer error as a failed load retried after the TTL, not a refusal', async () => {
    let down = true;
    const flaky: ModelSigner = {
      keyId: signer.keyId,
      sign: (d) => signer.sign(d),
      verify: async (d, s) => {
        if (down) throw new Error('KMS throttled');
        return signer.verify(d, s);
      },
    };
    const { loader, sha256, sign, clock } = setup(flaky);
    await sign({ signature: await signatureOf(sha256), signingKeyId: signer.keyId });
    await expect(loader.load('1.0.0')).rejects.toThrow('KMS throttled');
    down = false;
    clock.now = TTL_MS;
    await expect(loader.load('1.0.0')).resolves.toMatchObject({ state: { version: '1.0.0' } });
  });
});
