/** The version loader: one load path for in-process and remote backends, shared loads, failures kept for the TTL. */
import { describe, expect, it } from 'vitest';
import type { BackendModel, InferenceBackend } from '../../lambdas/core/ports';
import { createVersionLoader } from '../../lambdas/inference/version-loader';
import { FakeRegistry } from './fakes';
import { exampleBundle, fakeBackend, ledgerFor, MemoryLogger, publish } from './inference-helpers';

const BC = 'breast-cancer';
const breastCancer = exampleBundle(BC);
const TTL_MS = 1_000;

function loaderOver(backend: InferenceBackend) {
  const registry = new FakeRegistry();
  publish(registry, breastCancer, '1.0.0');
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
  });
  return { loader, registry, clock };
}

/** A remote backend whose loads are counted and can be made to fail. */
function remoteBackend(): InferenceBackend & { loads: string[]; fail?: Error } {
  const backend: InferenceBackend & { loads: string[]; fail?: Error } = {
    kind: 'remote',
    loads: [],
    async load(version): Promise<BackendModel> {
      backend.loads.push(version);
      if (backend.fail) throw backend.fail;
      return { predict: async () => ({}) };
    },
  };
  return backend;
}

describe('version loader', () => {
  it('in-process: concurrent loads share one manifest read, one artifact fetch and one backend load', async () => {
    const backend = fakeBackend({});
    const { loader, registry } = loaderOver(backend);
    expect(loader.peek('1.0.0')).toBeUndefined();
    const [a, b] = await Promise.all([loader.load('1.0.0'), loader.load('1.0.0')]);
    expect(a).toBe(b);
    expect(backend.loads).toEqual(['1.0.0']);
    expect(registry.calls).toEqual([
      `readText models/${BC}/1.0.0/manifest.json`,
      `readBytes models/${BC}/1.0.0/${a.state.manifest.artifact.sha256}.onnx`,
    ]);
    // The warm path: the same object, synchronously.
    expect(loader.peek('1.0.0')).toBe(a);
    expect(a.state.headers).toEqual({ 'content-type': 'application/json', 'x-modelops-version': '1.0.0' });
  });

  it('remote: concurrent loads share one backend load and fetch no artifact', async () => {
    const backend = remoteBackend();
    const { loader, registry } = loaderOver(backend);
    const [a, b] = await Promise.all([loader.load('1.0.0'), loader.load('1.0.0')]);
    expect(a).toBe(b);
    expect(backend.loads).toEqual(['1.0.0']);
    expect(registry.calls).toEqual([`readText models/${BC}/1.0.0/manifest.json`]);
    expect(loader.peek('1.0.0')).toBe(a);
  });

  it('remembers a failed load for the TTL, then tries again', async () => {
    const backend = remoteBackend();
    backend.fail = new Error('endpoint variant missing');
    const { loader, clock } = loaderOver(backend);
    await expect(loader.load('1.0.0')).rejects.toThrow('endpoint variant missing');
    clock.now = TTL_MS - 1;
    await expect(loader.load('1.0.0')).rejects.toThrow('endpoint variant missing');
    expect(backend.loads).toEqual(['1.0.0']);
    backend.fail = undefined;
    clock.now = TTL_MS;
    await expect(loader.load('1.0.0')).resolves.toMatchObject({ state: { version: '1.0.0' } });
    expect(backend.loads).toEqual(['1.0.0', '1.0.0']);
  });

  it('refuses a manifest that describes another version', async () => {
    const { loader, registry } = loaderOver(remoteBackend());
    publish(registry, breastCancer, '2.0.0');
    // A record from before manifestSha256 was recorded, so the content check is what refuses it.
    ledgerFor(registry).patch(BC, '2.0.0', { manifestSha256: undefined });
    registry.put(
      `models/${BC}/2.0.0/manifest.json`,
      JSON.stringify({ ...breastCancer.manifest, version: '1.0.0' }),
    );
    await expect(loader.load('2.0.0')).rejects.toThrow(
      `manifest models/${BC}/2.0.0/manifest.json describes ${BC} 1.0.0, not ${BC} 2.0.0`,
    );
  });
});
