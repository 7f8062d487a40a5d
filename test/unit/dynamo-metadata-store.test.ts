import { afterEach, describe, expect, it, vi } from 'vitest';
import { DynamoMetadataStore } from '../../lambdas/adapters/dynamo-metadata-store';

// Each release function is bound only to the tables it uses, so the store must not demand the others' variables.
describe('DynamoMetadataStore.fromEnv', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('builds with only some table variables set', () => {
    vi.stubEnv('MODEL_VERSIONS_TABLE', 'ModelVersions');
    vi.stubEnv('DEPLOYMENTS_TABLE', '');
    vi.stubEnv('AUDIT_LOG_TABLE', '');
    expect(() => DynamoMetadataStore.fromEnv()).not.toThrow();
  });

  it('fails naming the missing variable when an unbound table is used', async () => {
    vi.stubEnv('MODEL_VERSIONS_TABLE', 'ModelVersions');
    vi.stubEnv('DEPLOYMENTS_TABLE', '');
    const store = DynamoMetadataStore.fromEnv();
    await expect(store.getDeployment('m')).rejects.toThrow(/DEPLOYMENTS_TABLE is not set/);
  });
});
