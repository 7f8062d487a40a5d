/**
 * Crash at every write of RegisterVersion, then retry: the ledger must be consistent afterwards. A crash is a throw
 * before write N (so writes 1..N-1 landed); N runs over every write of a clean registration, plus one past the end.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { VersionConflictError } from '../../lambdas/core/errors';
import { registerRelease } from '../../lambdas/core/registration';
import type { AuditLogStore, RegistryStore, VersionStore } from '../../lambdas/core/ports';
import type { ValidationPassed } from '../../lambdas/core/release-events';
import { validateRelease } from '../../lambdas/core/validation';
import { fakeLedger, FakeRegistry, tinyRuntime, type FakeLedger } from './fakes';
import { FIXTURE_DIR, tinyManifest } from './manifest-fixtures';

const MODEL = 'tiny-classifier';
const VERSION = '1.0.0';
const modelBytes = readFileSync(path.join(FIXTURE_DIR, 'model.onnx'));
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

class Crash extends Error {
  override name = 'Crash';
}

/** Counts writes across the three stores and throws instead of performing write number `crashAt`. */
function crashingStores(
  registry: RegistryStore,
  ledger: FakeLedger,
  crashAt: number,
): { registry: RegistryStore; versions: VersionStore; audit: AuditLogStore; writes: () => number } {
  let writes = 0;
  const write = <T>(op: () => Promise<T>): Promise<T> => {
    writes += 1;
    if (writes === crashAt) return Promise.reject(new Crash(`crash before write ${crashAt}`));
    return op();
  };
  return {
    writes: () => writes,
    registry: {
      head: (k) => registry.head(k),
      readText: (k, m) => registry.readText(k, m),
      readStream: (k) => registry.readStream(k),
      readBytes: (k) => registry.readBytes(k),
      list: (p) => registry.list(p),
      copyIfAbsent: (f, t, e) => write(() => registry.copyIfAbsent(f, t, e)),
      putText: (k, b, c) => write(() => registry.putText(k, b, c)),
    },
    versions: {
      getVersion: (m, v) => ledger.versions.getVersion(m, v),
      listVersions: (m) => ledger.versions.listVersions(m),
      putVersionUnlessRegistered: (r) => write(() => ledger.versions.putVersionUnlessRegistered(r)),
    },
    audit: {
      listAudit: (m) => ledger.audit.listAudit(m),
      appendAudit: (e) => write(() => ledger.audit.appendAudit(e)),
    },
  };
}

async function stage(
  registry: FakeRegistry,
  ledger: FakeLedger,
  uploadId: string,
  edit: (m: ReturnType<typeof tinyManifest>) => void = () => undefined,
): Promise<ValidationPassed> {
  const dir = `incoming/${MODEL}/${VERSION}/${uploadId}/`;
  const m = tinyManifest();
  edit(m);
  registry.put(`${dir}model.onnx`, modelBytes);
  registry.put(`${dir}manifest.json`, JSON.stringify(m));
  const v = await validateRelease(
    { registry, ...ledger, runtime: tinyRuntime(), settings: { maxArtifactBytes: 10_000 } },
    { key: `${dir}manifest.json`, executionId: `validate-${uploadId}` },
  );
  if (!v.valid) throw new Error(JSON.stringify(v.reasons));
  return v;
}

/**
 * What holds even right after a crash: no REGISTERED record without its objects (with the recorded hashes), and no
 * REGISTERED event without its record. With `settled` (after a retry), also: exactly one REGISTERED event.
 */
async function expectConsistent(registry: FakeRegistry, ledger: FakeLedger, settled = true): Promise<void> {
  const record = await ledger.versions.getVersion(MODEL, VERSION);
  const registeredEvents = ledger.audit.events.filter((e) => e.type === 'REGISTERED');
  if (record?.status !== 'REGISTERED') {
    expect(registeredEvents).toEqual([]);
    return;
  }
  const artifact = registry.objects.get(record.artifactKey!);
  const manifest = registry.objects.get(record.manifestKey!);
  const fixed = registry.objects.get(`models/${MODEL}/${VERSION}/manifest.json`);
  expect(artifact && sha256(artifact)).toBe(record.sha256);
  expect(manifest && sha256(manifest)).toBe(record.manifestSha256);
  expect(fixed && sha256(fixed)).toBe(record.manifestSha256);
  expect(JSON.parse(manifest!.toString()).artifact.sha256).toBe(record.sha256);
  expect(registeredEvents).toHaveLength(settled ? 1 : registeredEvents.length > 0 ? 1 : 0);
  if (registeredEvents.length === 0) return;
  expect(registeredEvents[0]).toMatchObject({
    actor: record.source,
    details: { key: record.sourceKey, manifestSha256: record.manifestSha256 },
  });
}

async function cleanWriteCount(): Promise<number> {
  const registry = new FakeRegistry();
  const ledger = fakeLedger();
  const v = await stage(registry, ledger, '20261201T000000000Z-00000000');
  const stores = crashingStores(registry, ledger, Number.POSITIVE_INFINITY);
  await registerRelease(stores, { executionId: 'exec', validation: v });
  return stores.writes();
}

describe('registerRelease under crashes', () => {
  it('has a fixed number of writes, the record last but its audit event', async () => {
    // artifact, content-addressed manifest, fixed manifest, record, REGISTERED event
    expect(await cleanWriteCount()).toBe(5);
  });

  it('is consistent after a crash before any write N and a retry of the same execution', async () => {
    const total = await cleanWriteCount();
    for (let n = 1; n <= total + 1; n++) {
      const registry = new FakeRegistry();
      const ledger = fakeLedger();
      const v = await stage(registry, ledger, '20261201T000000000Z-00000001');
      const crashing = crashingStores(registry, ledger, n);
      const first = await registerRelease(crashing, { executionId: 'exec-1', validation: v }).catch(
        (e: unknown) => e,
      );
      if (n <= total) expect(first, `write ${n}`).toBeInstanceOf(Crash);
      await expectConsistent(registry, ledger, false);

      const retry = await registerRelease({ registry, ...ledger }, { executionId: 'exec-1', validation: v });
      // The retry of the execution that wrote the record reports REGISTERED, never "already registered".
      expect(retry, `write ${n}`).toMatchObject({ status: 'REGISTERED', idempotent: false });
      await expectConsistent(registry, ledger);
      expect(ledger.audit.types().filter((t) => t === 'REGISTER_IDEMPOTENT')).toEqual([]);
    }
  });

  it('is consistent after a crash before any write N and a re-push of the same bundle', async () => {
    const total = await cleanWriteCount();
    for (let n = 1; n <= total; n++) {
      const registry = new FakeRegistry();
      const ledger = fakeLedger();
      const v1 = await stage(registry, ledger, '20261201T000000000Z-00000001');
      await registerRelease(crashingStores(registry, ledger, n), {
        executionId: 'exec-1',
        validation: v1,
      }).catch(() => undefined);
      const v2 = await stage(registry, ledger, '20261201T000000001Z-00000002');
      const r = await registerRelease({ registry, ...ledger }, { executionId: 'exec-2', validation: v2 });
      expect(r.status, `write ${n}`).toBe('REGISTERED');
      await expectConsistent(registry, ledger);
    }
  });

  it('keeps the version for its first manifest after a crash, and refuses another manifest', async () => {
    const total = await cleanWriteCount();
    for (let n = 1; n <= total; n++) {
      const registry = new FakeRegistry();
      const ledger = fakeLedger();
      const v1 = await stage(registry, ledger, '20261201T000000000Z-00000001');
      await registerRelease(crashingStores(registry, ledger, n), {
        executionId: 'exec-1',
        validation: v1,
      }).catch(() => undefined);
      const other = await stage(registry, ledger, '20261201T000000001Z-00000002', (m) => {
        m.approval = { required: true, riskTier: 'high' };
      });
      const r = await registerRelease(
        { registry, ...ledger },
        { executionId: 'exec-2', validation: other },
      ).catch((e: unknown) => e);
      // Before the fixed manifest.json was claimed (writes 1-2 landed at most) the other manifest may win.
      if (r instanceof VersionConflictError) {
        expect(r.message, `write ${n}`).toContain(v1.manifestSha256);
        expect(r.message, `write ${n}`).toContain(other.manifestSha256);
      } else {
        expect(n, `write ${n}`).toBeLessThanOrEqual(3);
      }
      await expectConsistent(registry, ledger);
      // Re-running the first push afterwards never breaks the ledger either.
      await registerRelease({ registry, ...ledger }, { executionId: 'exec-1', validation: v1 }).catch(
        (e: unknown) => {
          expect(e).toBeInstanceOf(VersionConflictError);
        },
      );
      await expectConsistent(registry, ledger);
    }
  });
});
