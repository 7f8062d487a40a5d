/**
 * Ledger-checked serving: a version is served only if its ModelVersions record is REGISTERED and the manifest and
 * artifact under models/ match the record's hashes — not merely each other.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryMetricsSink } from '../../lambdas/adapters/in-memory-metrics-sink';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import { registeredArtifactKey, registeredManifestKey } from '../../lambdas/core/keys';
import type { InferenceBackend } from '../../lambdas/core/ports';
import { seededRandom } from '../../lambdas/core/random';
import { sha256OfBytes } from '../../lambdas/core/sha256';
import { createInferenceApp } from '../../lambdas/inference/inference-app';
import { FakeRegistry } from './fakes';
import {
  exampleBundle,
  FakeRouting,
  ledgerFor,
  MemoryLogger,
  invoke,
  publish,
  smokeInstances,
  type Bundle,
} from './inference-helpers';

const BC = 'breast-cancer';
const breastCancer = exampleBundle(BC);
const instance = smokeInstances(breastCancer)[0]!;
const onnx = createOnnxBackend(new OnnxModelRuntime());
const V1 = { Model: BC, Version: '1.0.0' };
const V2 = { Model: BC, Version: '2.0.0' };
const MODEL = { Model: BC };
const TTL_MS = 1_000;

function harness(
  setup: (registry: FakeRegistry, routing: FakeRouting) => void,
  backend: InferenceBackend = onnx,
) {
  const registry = new FakeRegistry();
  const routing = new FakeRouting();
  setup(registry, routing);
  const metrics = new InMemoryMetricsSink();
  const logger = new MemoryLogger();
  const clock = { now: 0 };
  const app = createInferenceApp({
    models: [BC],
    registry,
    versions: ledgerFor(registry),
    routing,
    backend,
    metrics,
    logger,
    settings: { routingCacheTtlMs: TTL_MS },
    now: () => clock.now,
    random: seededRandom(3),
  });
  const call = () => app(invoke(BC, { instances: [instance] }));
  return { app, call, registry, ledger: ledgerFor(registry), metrics, logger, clock };
}

/**
 * The attack of the security review: another model's bytes and a manifest that names them, both under
 * models/<name>/<version>/, consistent with each other (the content-addressed key matches too), but not with the
 * version's record.
 */
function replaceBoth(registry: FakeRegistry, bundle: Bundle, version: string): void {
  const bytes = Buffer.concat([bundle.bytes, Buffer.from('other model')]);
  const sha256 = sha256OfBytes(bytes);
  const manifest = {
    ...bundle.manifest,
    version,
    artifact: { ...bundle.manifest.artifact, sha256, sizeBytes: bytes.byteLength },
  };
  registry.put(registeredManifestKey(BC, version), JSON.stringify(manifest));
  registry.put(registeredArtifactKey(BC, version, sha256), bytes);
  // Also over the recorded key, so the artifact alone would not give it away either.
  const recorded = ledgerFor(registry).records.get(`${BC}#${version}`)!.artifactKey!;
  registry.put(recorded, bytes);
}

/** A manifest change that keeps the artifact: a widened feature range, same artifact sha256. */
function replaceManifestOnly(registry: FakeRegistry, version: string): void {
  const key = registeredManifestKey(BC, version);
  const manifest = JSON.parse(registry.objects.get(key)!.toString('utf8')) as Record<string, unknown>;
  registry.put(key, JSON.stringify({ ...manifest, description: 'edited in place' }));
}

const oneVersion =
  (broken: (r: FakeRegistry) => void) =>
  (registry: FakeRegistry, routing: FakeRouting): void => {
    publish(registry, breastCancer, '1.0.0');
    broken(registry);
    routing.set(BC, { stable: '1.0.0' });
  };

const brokenCandidate =
  (broken: (r: FakeRegistry) => void) =>
  (registry: FakeRegistry, routing: FakeRouting): void => {
    publish(registry, breastCancer, '1.0.0');
    publish(registry, breastCancer, '2.0.0');
    broken(registry);
    routing.set(BC, { stable: '1.0.0', candidate: '2.0.0', weight: 1 });
  };

const refusals: {
  name: string;
  broken: (r: FakeRegistry) => void;
  check: string;
  reason: string;
}[] = [
  {
    name: 'manifest and artifact replaced together, consistent with each other',
    broken: (r) => replaceBoth(r, breastCancer, '2.0.0'),
    check: 'manifestSha256',
    reason: 'its manifest does not match the sha256 in ModelVersions',
  },
  {
    name: 'both replaced, on a record without manifestSha256',
    broken: (r) => {
      ledgerFor(r).patch(BC, '2.0.0', { manifestSha256: undefined });
      replaceBoth(r, breastCancer, '2.0.0');
    },
    check: 'artifactSha256',
    reason: "its manifest's artifact sha256 does not match ModelVersions",
  },
  {
    name: 'manifest replaced only',
    broken: (r) => replaceManifestOnly(r, '2.0.0'),
    check: 'manifestSha256',
    reason: 'its manifest does not match the sha256 in ModelVersions',
  },
  {
    name: 'no record',
    broken: (r) => ledgerFor(r).records.delete(`${BC}#2.0.0`),
    check: 'record',
    reason: 'it has no usable ModelVersions record',
  },
  {
    name: 'a REJECTED record',
    broken: (r) => ledgerFor(r).patch(BC, '2.0.0', { status: 'REJECTED' }),
    check: 'status',
    reason: 'it is not REGISTERED in ModelVersions',
  },
  {
    // Older records carry no manifestSha256; for them the record must name the copy served.
    name: 'an older record (no manifestSha256) naming another manifest',
    broken: (r) =>
      ledgerFor(r).patch(BC, '2.0.0', {
        manifestKey: `models/${BC}/9.9.9/manifest.json`,
        manifestSha256: undefined,
      }),
    check: 'manifestKey',
    reason: 'its ModelVersions record names another manifest',
  },
];

describe('ledger-checked serving', () => {
  it('serves a record naming the content-addressed manifest when the bytes match its manifestSha256', async () => {
    const h = harness(
      oneVersion((r) =>
        ledgerFor(r).patch(BC, '1.0.0', { manifestKey: `models/${BC}/1.0.0/manifest-abc.json` }),
      ),
    );
    expect((await h.call()).statusCode).toBe(200);
    expect(h.metrics.sum('IntegrityFailures', V1)).toBe(0);
  });

  it('serves a version that matches its record, reading the record once', async () => {
    const h = harness(oneVersion(() => undefined));
    for (let i = 0; i < 3; i++) expect((await h.call()).statusCode).toBe(200);
    expect(h.ledger.reads).toEqual([`${BC} 1.0.0`]);
    expect(h.metrics.sum('IntegrityFailures', V1)).toBe(0);
    expect(h.logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('reads the record once per version under concurrent requests, with the manifest read', async () => {
    const h = harness(brokenCandidate(() => undefined));
    const responses = await Promise.all(Array.from({ length: 20 }, () => h.call()));
    expect(responses.every((r) => r.statusCode === 200)).toBe(true);
    expect(h.ledger.reads).toEqual([`${BC} 2.0.0`]);
    // Past every TTL: the record is cached with the version, never re-read.
    h.clock.now += 10 * TTL_MS;
    await h.call();
    expect(h.ledger.reads).toEqual([`${BC} 2.0.0`]);
  });

  it('fetches the artifact at the record key and verifies it against the record sha256', async () => {
    const h = harness(oneVersion((r) => publish(r, breastCancer, '1.0.0', { tamper: true })));
    const res = await h.call();
    expect(res.statusCode).toBe(503);
    const { sha256, artifactKey } = h.ledger.records.get(`${BC}#1.0.0`)!;
    expect(h.registry.calls).toContain(`readBytes ${artifactKey}`);
    const line = h.logger.lines.find((l) => l.message === 'artifact hash mismatch: version refused');
    expect(line?.attributes).toMatchObject({ version: '1.0.0', expectedSha256: sha256 });
    expect(h.metrics.sum('IntegrityFailures', V1)).toBe(1);
  });

  it.each(refusals)(
    'refuses a candidate with $name, counts it, and stable serves',
    async ({ broken, check }) => {
      const h = harness(brokenCandidate(broken));
      for (let i = 0; i < 3; i++) {
        const res = await h.call();
        expect(res.statusCode).toBe(200);
        expect(res.headers['x-modelops-version']).toBe('1.0.0');
      }
      expect(h.metrics.sum('IntegrityFailures', V2)).toBe(3);
      expect(h.metrics.sum('Requests', V2)).toBe(3);
      expect(h.metrics.sum('Errors', V2)).toBe(3);
      expect(h.metrics.sum('Fallbacks', V2)).toBe(3);
      expect(h.metrics.sum('Requests', V1)).toBe(3);
      expect(h.metrics.sum('Errors', V1)).toBe(0);
      expect(h.metrics.sum('Requests', MODEL)).toBe(3);
      expect(h.metrics.sum('Errors', MODEL)).toBe(0);
      // Refused before any artifact byte is fetched, and logged naming the check, once.
      expect(h.registry.calls.filter((c) => c.startsWith(`readBytes models/${BC}/2.0.0/`))).toEqual([]);
      const refused = h.logger.lines.filter(
        (l) => l.message === 'version refused: it does not match its ModelVersions record',
      );
      expect(refused).toHaveLength(1);
      expect(refused[0]!.attributes).toMatchObject({ model: BC, version: '2.0.0', check });
      expect(h.logger.text()).not.toContain(String(instance['mean_radius']));
    },
  );

  it.each(refusals)(
    'answers 503 ModelNotServable when the only version has $name',
    async ({ broken, reason }) => {
      const only = harness((registry, routing) => {
        publish(registry, breastCancer, '2.0.0');
        broken(registry);
        routing.set(BC, { stable: '2.0.0' });
      });
      const res = await only.call();
      expect(res.statusCode).toBe(503);
      const body = JSON.parse(res.body) as { error: { code: string; message: string } };
      expect(body.error).toEqual({
        code: 'ModelNotServable',
        message: `model "${BC}" cannot be served right now: version "2.0.0" was refused: ${reason}`,
      });
      expect(only.metrics.sum('IntegrityFailures', V2)).toBe(1);
      expect(only.metrics.sum('Errors', V2)).toBe(1);
      expect(only.metrics.sum('Errors', MODEL)).toBe(1);
      expect(only.metrics.sum('Fallbacks', V2)).toBe(0);
    },
  );

  it('keeps a hash refusal for good, but reads a REJECTED record again after the TTL', async () => {
    const tampered = harness(brokenCandidate((r) => replaceManifestOnly(r, '2.0.0')));
    const readsOf2 = (h: { ledger: { reads: string[] } }) =>
      h.ledger.reads.filter((r) => r === `${BC} 2.0.0`);
    await tampered.call();
    tampered.clock.now += 10 * TTL_MS;
    await tampered.call();
    expect(readsOf2(tampered)).toHaveLength(1);

    const rejected = harness(brokenCandidate((r) => ledgerFor(r).patch(BC, '2.0.0', { status: 'REJECTED' })));
    await rejected.call();
    expect(readsOf2(rejected)).toHaveLength(1);
    // A fixed bundle pushed again under the version: its record becomes REGISTERED.
    rejected.ledger.patch(BC, '2.0.0', { status: 'REGISTERED' });
    rejected.clock.now += TTL_MS;
    const res = await rejected.call();
    expect(res.headers['x-modelops-version']).toBe('2.0.0');
    expect(readsOf2(rejected)).toHaveLength(2);
  });

  it('treats an unreadable record as a load failure, not an integrity refusal', async () => {
    const h = harness(brokenCandidate(() => undefined));
    h.ledger.failing.set('2.0.0', new Error('ProvisionedThroughputExceededException'));
    const res = await h.call();
    expect(res.headers['x-modelops-version']).toBe('1.0.0');
    expect(h.metrics.sum('IntegrityFailures', V2)).toBe(0);
    expect(h.metrics.sum('Fallbacks', V2)).toBe(1);
    h.ledger.failing.clear();
    h.clock.now += TTL_MS;
    expect((await h.call()).headers['x-modelops-version']).toBe('2.0.0');
  });

  it('checks the record for a remote backend too (no artifact to fetch)', async () => {
    const loads: string[] = [];
    const remote: InferenceBackend = {
      kind: 'remote',
      async load(version) {
        loads.push(version);
        return { predict: async () => ({}) };
      },
    };
    const h = harness(
      oneVersion((r) => ledgerFor(r).patch(BC, '1.0.0', { sha256: 'ab'.repeat(32) })),
      remote,
    );
    const res = await h.call();
    expect(res.statusCode).toBe(503);
    expect(loads).toEqual([]);
    expect(h.metrics.sum('IntegrityFailures', V1)).toBe(1);
  });
});
