/** In-memory fakes of the ports, for unit tests of the release orchestration. */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DuplicateAuditEventError, ObjectTooLargeError, SourceChangedError } from '../../lambdas/core/errors';
import { RoutingConflictError } from '../../lambdas/core/promotion';
import { decodeUtf8Strict } from '../../lambdas/core/utf8';
import type { LoadedModel, ModelRuntime, OutputValue, TensorMeta } from '../../lambdas/core/model-runtime';
import type {
  AuditEvent,
  AuditLogStore,
  DeploymentRecord,
  DeploymentStore,
  ObjectHead,
  ObjectLockRetention,
  RegistryStore,
  VersionRecord,
  VersionStore,
} from '../../lambdas/core/ports';

export class FakeRegistry implements RegistryStore {
  readonly objects = new Map<string, Buffer>();
  readonly calls: string[] = [];

  put(key: string, body: string | Uint8Array): void {
    this.objects.set(key, Buffer.from(body));
  }

  private etagOf(body: Buffer): string {
    return `"${createHash('md5').update(body).digest('hex')}"`;
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    this.calls.push(`head ${key}`);
    const body = this.objects.get(key);
    return body ? { key, sizeBytes: body.length, etag: this.etagOf(body) } : undefined;
  }
  async readText(key: string, maxBytes: number): Promise<string | undefined> {
    this.calls.push(`readText ${key}`);
    const body = this.objects.get(key);
    if (body && body.length > maxBytes) throw new ObjectTooLargeError(key, body.length, maxBytes);
    return body === undefined ? undefined : decodeUtf8Strict(body, key);
  }
  async readStream(key: string): Promise<Readable> {
    this.calls.push(`readStream ${key}`);
    const body = this.objects.get(key);
    if (!body) throw new SourceChangedError(`${key} missing`);
    // Small chunks so hashing crosses chunk boundaries as it does against S3.
    const chunks: Buffer[] = [];
    for (let i = 0; i < body.length; i += 7) chunks.push(body.subarray(i, i + 7));
    return Readable.from(chunks);
  }
  async readBytes(key: string): Promise<Uint8Array> {
    this.calls.push(`readBytes ${key}`);
    const body = this.objects.get(key);
    if (!body) throw new SourceChangedError(`${key} missing`);
    return body;
  }
  /** The Object Lock each copied object was written with, by key. */
  readonly locks = new Map<string, ObjectLockRetention | undefined>();
  async copyIfAbsent(
    fromKey: string,
    toKey: string,
    expectedEtag: string,
    options: { readonly lock?: ObjectLockRetention } = {},
  ): Promise<'copied' | 'exists'> {
    this.calls.push(`copy ${fromKey} -> ${toKey}`);
    if (this.objects.has(toKey)) return 'exists';
    const body = this.objects.get(fromKey);
    if (!body || this.etagOf(body).replace(/"/g, '') !== expectedEtag.replace(/"/g, '')) {
      throw new SourceChangedError(`${fromKey} changed`);
    }
    this.objects.set(toKey, body);
    this.locks.set(toKey, options.lock);
    return 'copied';
  }
  async putText(key: string, body: string): Promise<void> {
    this.objects.set(key, Buffer.from(body));
  }
  async list(prefix: string): Promise<readonly string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** The ModelVersions table in memory, keyed `<model>#<version>`. */
export class FakeVersionStore implements VersionStore {
  readonly records = new Map<string, VersionRecord>();
  /** Runs just before the conditional write, to simulate a concurrent writer. */
  beforePut?: () => void;

  async getVersion(model: string, version: string): Promise<VersionRecord | undefined> {
    return this.records.get(`${model}#${version}`);
  }
  async listVersions(model?: string): Promise<readonly VersionRecord[]> {
    return [...this.records.values()].filter((v) => model === undefined || v.model === model);
  }
  async putVersionUnlessRegistered(record: VersionRecord) {
    this.beforePut?.();
    const key = `${record.model}#${record.version}`;
    const current = this.records.get(key);
    if (current && current.status !== 'REJECTED') return { written: false, current };
    this.records.set(key, record);
    return { written: true, current: record };
  }
}

/** The Deployments table in memory, keyed by model. */
export class FakeDeploymentStore implements DeploymentStore {
  readonly records = new Map<string, DeploymentRecord>();
  /** Runs just before the conditional routing write, to simulate a concurrent writer. */
  beforePut?: () => void;

  async getDeployment(model: string): Promise<DeploymentRecord | undefined> {
    return this.records.get(model);
  }
  async putDeployment(
    record: DeploymentRecord,
    options: { readonly expectedRevision: number | undefined },
  ): Promise<void> {
    this.beforePut?.();
    const current = this.records.get(record.model);
    if (current?.revision !== options.expectedRevision) {
      throw new RoutingConflictError(record.model, options.expectedRevision);
    }
    this.records.set(record.model, record);
  }
}

/** The AuditLog table in memory, in append order. */
export class FakeAuditLog implements AuditLogStore {
  readonly events: AuditEvent[] = [];

  async appendAudit(event: AuditEvent): Promise<void> {
    if (this.events.some((e) => e.model === event.model && e.eventId === event.eventId)) {
      throw new DuplicateAuditEventError(`audit event ${event.model} ${event.eventId} already exists`);
    }
    this.events.push(event);
  }
  async listAudit(model: string): Promise<readonly AuditEvent[]> {
    return this.events.filter((e) => e.model === model);
  }
  types(): string[] {
    return this.events.map((e) => e.type);
  }
}

export interface FakeLedger {
  readonly versions: FakeVersionStore;
  readonly deployments: FakeDeploymentStore;
  readonly audit: FakeAuditLog;
}

/** One fake per metadata table, named as deps name them: spread it into any deps object (`{ registry, ...ledger }`). */
export function fakeLedger(): FakeLedger {
  return {
    versions: new FakeVersionStore(),
    deployments: new FakeDeploymentStore(),
    audit: new FakeAuditLog(),
  };
}

/** A model that computes its outputs with a plain function of the feeds. */
export class FakeRuntime implements ModelRuntime {
  loads = 0;
  released = 0;
  constructor(
    readonly inputs: TensorMeta[],
    readonly outputs: TensorMeta[],
    readonly compute: (
      feeds: Record<string, { data: ArrayLike<unknown>; dims: readonly number[] }>,
    ) => Record<string, OutputValue>,
    readonly failLoad?: string,
  ) {}

  async load(): Promise<LoadedModel> {
    this.loads++;
    if (this.failLoad) throw new Error(this.failLoad);
    return {
      inputs: this.inputs,
      outputs: this.outputs,
      run: async (feeds) => this.compute(feeds),
      release: async () => {
        this.released++;
      },
    };
  }
}

/** A fake runtime with the fixture model's graph and math (test/fixtures/tiny-classifier/make_model.py). */
export function tinyRuntime(over: { inputs?: TensorMeta[]; failLoad?: string } = {}): FakeRuntime {
  const W = [
    [1, -1],
    [0.5, -0.5],
    [-2, 2],
  ];
  const B = [0.1, -0.1];
  return new FakeRuntime(
    over.inputs ?? [{ name: 'features', isTensor: true, elementType: 'float32', shape: ['batch', 3] }],
    [
      { name: 'probabilities', isTensor: true, elementType: 'float32', shape: ['batch', 2] },
      { name: 'label', isTensor: true, elementType: 'int64', shape: ['batch'] },
    ],
    (feeds) => {
      // Row by row: validation runs batches (the serve-contract check), not just single smoke samples.
      const all = Array.from(feeds.features!.data as ArrayLike<number>);
      const rows = feeds.features!.dims[0]!;
      const probabilities: number[] = [];
      const label: bigint[] = [];
      for (let r = 0; r < rows; r++) {
        const x = all.slice(r * 3, r * 3 + 3);
        const logits = [0, 1].map((j) =>
          x.reduce((s, v, i) => s + (Number.isNaN(v) ? 0 : v) * W[i]![j]!, B[j]!),
        );
        const e = logits.map((l) => Math.exp(l - Math.max(...logits)));
        const p = e.map((v) => v / (e[0]! + e[1]!));
        probabilities.push(...p);
        label.push(BigInt(p[1]! > p[0]! ? 1 : 0));
      }
      return {
        probabilities: { elementType: 'float32', dims: [rows, 2], data: probabilities },
        label: { elementType: 'int64', dims: [rows], data: label },
      };
    },
    over.failLoad,
  );
}
