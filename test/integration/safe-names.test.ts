/**
 * Names from Object.prototype and invalid UTF-8 through the real release state machine on the emulators: each either
 * registers and round-trips through the ledger like any other name, or is rejected with a reason that names it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExample, startHarness, types, type Harness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

async function pushExample(version: string, edit: (m: Record<string, unknown>) => void) {
  const { manifest, artifact } = await loadExample('breast-cancer');
  const m = structuredClone(manifest) as unknown as Record<string, unknown>;
  m.version = version;
  edit(m);
  const key = await h.stage('breast-cancer', version, JSON.stringify(m), artifact);
  return { result: await h.release(key), manifest: m };
}

describe('names drawn from Object.prototype', () => {
  it('registers a metric named "constructor" and stores it as reported', async () => {
    const { result, manifest } = await pushExample('7.0.1', (m) => {
      m.metrics = { ...(m.metrics as object), constructor: 0.5, toString: 0.25 };
    });
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    const record = await h.version('breast-cancer', '7.0.1');
    expect(record?.status).toBe('REGISTERED');
    expect(record?.metrics).toEqual(manifest.metrics);
    expect(types(await h.audit('breast-cancer', '7.0.1'))).toEqual(['VALIDATION_PASSED', 'REGISTERED']);
  });

  it('rejects a gate on "constructor" when no such metric is reported', async () => {
    const { result } = await pushExample('7.0.2', (m) => {
      Object.assign((m.gates as { minimums: object }).minimums, { constructor: 0.1 });
    });
    expect(result.error).toBe('ArtifactRejected');
    expect((await h.version('breast-cancer', '7.0.2'))?.reasons).toContain(
      'gates: gates metric "constructor" but metrics has no "constructor"; report it',
    );
  });

  it('rejects a "__proto__" metric by name instead of dropping it', async () => {
    const { manifest, artifact } = await loadExample('breast-cancer');
    const text = JSON.stringify({ ...manifest, version: '7.0.3' }).replace(
      '"metrics":{',
      '"metrics":{"__proto__":0.5,',
    );
    const result = await h.release(await h.stage('breast-cancer', '7.0.3', text, artifact));
    expect(result.error).toBe('ArtifactRejected');
    expect((await h.version('breast-cancer', '7.0.3'))?.reasons).toContain(
      'metrics.__proto__: "__proto__" is reserved (JavaScript objects cannot hold it as data); choose another name',
    );
  });
});

describe('manifest encoding', () => {
  it('rejects a manifest with invalid UTF-8, naming the byte offset, and registers nothing', async () => {
    const { manifest, artifact } = await loadExample('breast-cancer');
    const text = Buffer.from(JSON.stringify({ ...manifest, version: '7.0.4', owner: 'ml-team' }), 'utf8');
    const offset = text.indexOf('ml-team') + 2;
    text[offset] = 0xff;
    const result = await h.release(await h.stage('breast-cancer', '7.0.4', text, artifact));
    expect(result.error).toBe('ArtifactRejected');
    expect((await h.version('breast-cancer', '7.0.4'))?.reasons).toEqual([
      `manifest: incoming/breast-cancer/7.0.4/manifest.json is not valid UTF-8 at byte offset ${offset}; save it as UTF-8`,
    ]);
    expect(await h.keys('models/breast-cancer/7.0.4/')).toEqual([]);
  });
});
