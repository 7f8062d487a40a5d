/** Shared fixtures of the inference unit tests: example bundles published into a fake registry, fake backends. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Instance } from '../../lambdas/core/features';
import { registeredArtifactKey, registeredManifestKey } from '../../lambdas/core/keys';
import type { ManifestInput } from '../../lambdas/core/manifest';
import type { OutputValue } from '../../lambdas/core/model-runtime';
import { sha256OfBytes } from '../../lambdas/core/sha256';
import type {
  BackendModel,
  DeploymentRecord,
  InferenceBackend,
  RoutingSource,
  StructuredLogger,
  VersionReader,
  VersionRecord,
} from '../../lambdas/core/ports';
import type { HttpRequest } from '../../lambdas/inference/http';
import type { FakeRegistry } from './fakes';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');

export interface Bundle {
  readonly manifest: ManifestInput & {
    smokeSamples: { inputs: Instance; expected: Record<string, unknown> }[];
  };
  readonly bytes: Buffer;
}

export function exampleBundle(name: 'breast-cancer' | 'credit-risk'): Bundle {
  return {
    manifest: JSON.parse(
      readFileSync(path.join(EXAMPLES, name, 'manifest.json'), 'utf8'),
    ) as Bundle['manifest'],
    bytes: readFileSync(path.join(EXAMPLES, name, 'model.onnx')),
  };
}

/** The ModelVersions records the serving path reads, in memory; counts reads per version. */
export class FakeLedger implements VersionReader {
  readonly records = new Map<string, VersionRecord>();
  readonly reads: string[] = [];
  /** Makes reads of these versions throw the given error. */
  readonly failing = new Map<string, Error>();
  async getVersion(model: string, version: string): Promise<VersionRecord | undefined> {
    this.reads.push(`${model} ${version}`);
    const error = this.failing.get(version);
    if (error) throw error;
    return this.records.get(`${model}#${version}`);
  }
  set(record: VersionRecord): void {
    this.records.set(`${record.model}#${record.version}`, record);
  }
  /** Changes fields of a stored record (e.g. `status`, `sha256`). */
  patch(model: string, version: string, fields: Partial<VersionRecord>): void {
    const current = this.records.get(`${model}#${version}`);
    if (current === undefined) throw new Error(`no record ${model} ${version}`);
    this.set({ ...current, ...fields });
  }
}

const ledgers = new WeakMap<FakeRegistry, FakeLedger>();

/** The ledger that `publish` writes the records of `registry`'s versions to (one per registry). */
export function ledgerFor(registry: FakeRegistry): FakeLedger {
  let ledger = ledgers.get(registry);
  if (ledger === undefined) ledgers.set(registry, (ledger = new FakeLedger()));
  return ledger;
}

/**
 * Puts a registered version (manifest + content-addressed artifact) into the registry and its REGISTERED record
 * into `ledgerFor(registry)`, as the release pipeline does. The manifest's sha256 is set from `bytes`; `tamper`
 * stores different bytes under the registered key afterwards.
 */
export function publish(
  registry: FakeRegistry,
  bundle: Bundle,
  version: string,
  options: { readonly tamper?: boolean; readonly bytes?: Uint8Array } = {},
): ManifestInput {
  const bytes = options.bytes ?? bundle.bytes;
  const sha256 = sha256OfBytes(bytes);
  const manifest = {
    ...bundle.manifest,
    version,
    artifact: { ...bundle.manifest.artifact, sha256, sizeBytes: bytes.byteLength },
  };
  const manifestText = JSON.stringify(manifest);
  const manifestKey = registeredManifestKey(manifest.name, version);
  const artifactKey = registeredArtifactKey(manifest.name, version, sha256);
  registry.put(manifestKey, manifestText);
  ledgerFor(registry).set({
    model: manifest.name,
    version,
    status: 'REGISTERED',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    artifactKey,
    manifestKey,
    sha256,
    manifestSha256: sha256OfBytes(manifestText),
    sizeBytes: bytes.byteLength,
    framework: 'onnx',
  });
  const stored = options.tamper ? Buffer.concat([Buffer.from(bytes), Buffer.from([0])]) : bytes;
  registry.put(artifactKey, stored);
  return manifest;
}

/** A mutable Deployments table. */
export class FakeRouting implements RoutingSource {
  readonly records = new Map<string, DeploymentRecord>();
  reads = 0;
  fail?: Error;
  set(model: string, fields: Partial<DeploymentRecord>): void {
    const previous = this.records.get(model);
    this.records.set(model, {
      model,
      weight: 0,
      mode: 'canary',
      revision: (previous?.revision ?? 0) + 1,
      updatedAt: '2026-01-01T00:00:00.000Z',
      ...fields,
    });
  }
  async getDeployment(model: string): Promise<DeploymentRecord | undefined> {
    this.reads++;
    if (this.fail) throw this.fail;
    return this.records.get(model);
  }
}

export interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly attributes: Record<string, unknown>;
}

export class MemoryLogger implements StructuredLogger {
  readonly lines: LogLine[] = [];
  debug(message: string, attributes: Record<string, unknown>) {
    this.lines.push({ level: 'debug', message, attributes });
  }
  info(message: string, attributes: Record<string, unknown>) {
    this.lines.push({ level: 'info', message, attributes });
  }
  warn(message: string, attributes: Record<string, unknown>) {
    this.lines.push({ level: 'warn', message, attributes });
  }
  error(message: string, attributes: Record<string, unknown>) {
    this.lines.push({ level: 'error', message, attributes });
  }
  /** Everything logged, as text, to search for values that must never appear. */
  text(): string {
    return JSON.stringify(this.lines, (_k, v: unknown) =>
      v instanceof Error ? `${v.name}: ${v.message}` : v,
    );
  }
}

/** A two-label classifier output for `n` instances with P(second label) = p. */
export function classifierOutputs(n: number, p: number): Record<string, OutputValue> {
  const probabilities: number[] = [];
  const label: bigint[] = [];
  for (let i = 0; i < n; i++) {
    probabilities.push(1 - p, p);
    label.push(p > 0.5 ? 1n : 0n);
  }
  return {
    probabilities: { elementType: 'float32', dims: [n, 2], data: probabilities },
    label: { elementType: 'int64', dims: [n], data: label },
  };
}

/**
 * An in-process backend whose versions compute with plain functions; a version without a function throws on
 * predict. Records loads per version.
 */
export function fakeBackend(
  byVersion: Record<string, (instances: readonly Instance[]) => Record<string, OutputValue>>,
): InferenceBackend & { loads: string[] } {
  const loads: string[] = [];
  return {
    kind: 'in-process',
    loads,
    async load(version): Promise<BackendModel> {
      loads.push(version);
      return {
        async predict(instances) {
          const compute = byVersion[version];
          if (!compute) throw new TypeError(`boom in ${version}`);
          return compute(instances);
        },
      };
    },
  };
}

let counter = 0;
export function invoke(model: string, body: unknown, over: Partial<HttpRequest> = {}): HttpRequest {
  counter++;
  return {
    method: 'POST',
    path: `/models/${model}/invoke`,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    requestId: `req-${counter}`,
    ...over,
  };
}

/** The breast-cancer smoke sample inputs, one instance each. */
export function smokeInstances(bundle: Bundle): Instance[] {
  return bundle.manifest.smokeSamples.map((s) => s.inputs);
}
