/**
 * Artifact size limit. Its own file (own process): handlers read MAX_ARTIFACT_BYTES once per process, so the small
 * limit must be in the config before they load.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadExample, startHarness, TEST_CONFIG, types, type Harness } from './harness';

const LIMIT = 4096;
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ config: { ...TEST_CONFIG, registry: { maxArtifactBytes: LIMIT } } });
});
afterAll(async () => {
  await h?.stop();
});

it('rejects an artifact larger than registry.maxArtifactBytes, registering nothing', async () => {
  const { manifest, artifact } = await loadExample('breast-cancer');
  expect(artifact.length).toBeGreaterThan(LIMIT);
  const key = await h.stage('breast-cancer', 'too-big', { ...manifest, version: 'too-big' }, artifact);
  const result = await h.release(key);
  expect(result.status).toBe('FAILED');
  expect(result.error).toBe('ArtifactRejected');
  expect(await h.keys('models/')).toEqual([]);
  const record = await h.version('breast-cancer', 'too-big');
  expect(record?.status).toBe('REJECTED');
  expect(record?.reasons?.join('\n')).toMatch(new RegExp(`${LIMIT}`));
  expect(types(await h.audit('breast-cancer', 'too-big'))).toEqual(['VALIDATION_FAILED']);
});

it('still registers an artifact within the limit', async () => {
  const { manifest, artifact } = await loadExample('credit-risk');
  expect(artifact.length).toBeLessThanOrEqual(LIMIT);
  const result = await h.release(
    await h.stage('credit-risk', 'small', { ...manifest, version: 'small' }, artifact),
  );
  expect(result.status).toBe('SUCCEEDED');
  expect((await h.version('credit-risk', 'small'))?.status).toBe('REGISTERED');
});
