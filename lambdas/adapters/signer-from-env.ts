/**
 * The ModelSigner a function uses, from MODEL_SIGNING_KEY_ID: a KMS key id or ARN in AWS (KmsModelSigner), or
 * `local-dir:<directory>` in local mode, where the key pair lives in the local data directory (LocalModelSigner).
 * Unset or empty: no signer (registration records no signature; serving cannot verify one).
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { MODEL_SIGNING_KEY_ENV } from '../core/ports';
import type { ModelSigner } from '../core/ports';
import { currentEnvironment } from '../shared/env';
import { KmsModelSigner } from './kms-signer';
import { LocalModelSigner } from './local-signer';

/** Prefix of a MODEL_SIGNING_KEY_ID value naming a local key directory rather than a KMS key. */
export const LOCAL_SIGNING_KEY_DIR_PREFIX = 'local-dir:';

let kmsClient: KMSClient | undefined;

/** The signer for one MODEL_SIGNING_KEY_ID value. */
export function modelSignerFor(keyId: string): ModelSigner {
  if (keyId.startsWith(LOCAL_SIGNING_KEY_DIR_PREFIX)) {
    return LocalModelSigner.open(keyId.slice(LOCAL_SIGNING_KEY_DIR_PREFIX.length));
  }
  kmsClient ??= new KMSClient({});
  return new KmsModelSigner(kmsClient, keyId);
}

/** The signer MODEL_SIGNING_KEY_ID names, or undefined when it is unset or empty. */
export function modelSignerFromEnv(env: NodeJS.ProcessEnv = currentEnvironment()): ModelSigner | undefined {
  const keyId = env[MODEL_SIGNING_KEY_ENV]?.trim();
  return keyId ? modelSignerFor(keyId) : undefined;
}
