/**
 * Local-mode ModelSigner: an ECDSA P-256 key pair kept in the local data directory (PKCS#8 PEM, mode 0600), created
 * on first use. node:crypto cannot sign a pre-hashed value, so this signs ECDSA_SHA_256 over the 32 digest bytes:
 * signatures are valid only for this signer, never interchangeable with the KMS adapter's (each environment verifies
 * what it signed).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MODEL_DIGEST_BYTES } from '../core/ports';
import type { ModelSigner } from '../core/ports';

export const LOCAL_SIGNING_KEY_FILE = 'model-signing-key.pem';

function checkDigest(digest: Uint8Array): void {
  if (digest.length !== MODEL_DIGEST_BYTES) {
    throw new RangeError(
      `ModelSigner: digest must be ${MODEL_DIGEST_BYTES} bytes (SHA-256), got ${digest.length}`,
    );
  }
}

export class LocalModelSigner implements ModelSigner {
  readonly keyId: string;
  private readonly publicKey: KeyObject;

  private constructor(private readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
    const spki = this.publicKey.export({ type: 'spki', format: 'der' });
    this.keyId = `local:${createHash('sha256').update(spki).digest('hex').slice(0, 16)}`;
  }

  /** Opens the key pair in `dataDir`, generating it (mode 0600, never overwriting) on first use. */
  static open(dataDir: string): LocalModelSigner {
    const file = path.join(dataDir, LOCAL_SIGNING_KEY_FILE);
    fs.mkdirSync(dataDir, { recursive: true });
    if (!fs.existsSync(file)) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
      try {
        fs.writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        // Another process created it first: use theirs.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    return new LocalModelSigner(createPrivateKey(fs.readFileSync(file)));
  }

  // async: a bad digest rejects, like the KMS adapter, instead of throwing synchronously.

  async sign(digest: Uint8Array): Promise<Uint8Array> {
    checkDigest(digest);
    return new Uint8Array(sign('sha256', digest, this.privateKey));
  }

  async verify(digest: Uint8Array, signature: Uint8Array): Promise<boolean> {
    checkDigest(digest);
    try {
      return verify('sha256', digest, this.publicKey, signature);
    } catch {
      return false;
    }
  }
}
