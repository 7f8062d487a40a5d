/**
 * `modelops validate`: the release pipeline's ValidateArtifact (lambdas/core/validation.ts `validateRelease`, the very
 * function the state machine runs) over a bundle directory, with nothing uploaded and nothing recorded. The bundle's
 * files are served by a read-only in-memory registry under the incoming key a push would give them, the audit log is
 * an in-memory list thrown away afterwards, and the champion (the stable version's metrics) is read from the target
 * ledger when one answers. `push` runs this same function before it uploads anything: one validation path.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ObjectTooLargeError } from '../lambdas/core/errors';
import { MANIFEST_FILE, newUploadId } from '../lambdas/core/keys';
import type { ModelRuntime } from '../lambdas/core/model-runtime';
import type {
  AuditEvent,
  AuditLogStore,
  DeploymentRecord,
  DeploymentStore,
  ObjectHead,
  RegistryStore,
  VersionRecord,
  VersionStore,
} from '../lambdas/core/ports';
import { sha256OfBytes } from '../lambdas/core/sha256';
import { PREFIX } from '../lambdas/core/tables';
import { decodeUtf8Strict } from '../lambdas/core/utf8';
import { validateRelease, type ValidationSettings } from '../lambdas/core/validation';
import { maxBatchByModel } from '../lambdas/shared/env';
import {
  loadOnnxModelRuntime,
  ManifestRejectedError,
  prepareBundle,
  loadProjectConfig,
  type PreparedBundle,
} from './bundle';
import { CliError, type CliIo } from './errors';
import type { LedgerStores } from './metadata';

/** Where the champion's metrics come from: the target ledger's routing and version tables, read only. */
export type ChampionLedger = Pick<LedgerStores, 'versions' | 'deployments'>;

export interface ValidateOptions {
  /** CSV of reference data to compute the baseline from, as `push --reference` does. */
  readonly reference?: string;
  /** @default - `registry.maxArtifactBytes` and the model names of modelops.config.ts */
  readonly settings?: ValidationSettings;
  /** @default - no ledger: the champion is not compared */
  readonly ledger?: ChampionLedger;
  /** Describes `ledger` in the output (e.g. the target's description). */
  readonly ledgerDescription?: string;
  /** The upload folder the bundle is validated under; `push` passes the one it then uploads to. @default new id */
  readonly uploadId?: string;
  /** @default OnnxModelRuntime (the runtime ValidateArtifact uses) */
  readonly runtime?: ModelRuntime;
}

export interface BundleValidation {
  readonly valid: boolean;
  /** The manifest as validated (and as `push` uploads it); undefined when it could not be read or parsed. */
  readonly bundle?: PreparedBundle;
  readonly uploadId: string;
  /** `incoming/<model>/<version>/<upload-id>/manifest.json`; undefined with `bundle`. */
  readonly manifestKey?: string;
  /** What passed, in the pipeline's words. */
  readonly checks: readonly string[];
  /** Why the bundle fails; empty when valid. */
  readonly reasons: readonly string[];
  /** Whether the champion was read: `unreachable` when no ledger answered (regression gates not evaluated). */
  readonly champion: 'read' | 'unreachable' | 'not-needed';
}

/** The checks line recorded when no ledger answered the champion read. */
export const CHAMPION_NOT_COMPARED = 'champion: not compared (no ledger reachable)';

/** `validateRelease`'s settings as the stack and local mode derive them from modelops.config.ts. */
export async function projectValidationSettings(): Promise<ValidationSettings> {
  let config;
  try {
    config = await loadProjectConfig();
  } catch (err) {
    throw new CliError(
      `modelops.config.ts cannot be loaded (${(err as Error).message}); fix it (docs/config.md): validation needs ` +
        'registry.maxArtifactBytes and the configured models',
      2,
    );
  }
  return {
    maxArtifactBytes: config.registry.maxArtifactBytes,
    configuredModels: config.models.map((m) => m.name),
    maxBatchByModel: maxBatchByModel(config.models),
  };
}

/**
 * Validates a bundle directory exactly as ValidateArtifact validates it once pushed. Throws `UsageError` (exit 2)
 * when there is no bundle to validate (not a directory, no manifest.json, unreadable --reference) and `CliError`
 * when the baseline cannot be profiled; every problem of the bundle itself is a reason in the result.
 *
 * @example
 * const v = await validateBundle('examples/credit-risk');
 * printValidation(v, consoleIo); // exit code: v.valid ? 0 : 1
 */
export async function validateBundle(
  bundleDir: string,
  options: ValidateOptions = {},
): Promise<BundleValidation> {
  const uploadId = options.uploadId ?? newUploadId();
  let bundle: PreparedBundle;
  try {
    bundle = await prepareBundle(
      bundleDir,
      options.reference !== undefined ? { reference: options.reference } : {},
    );
  } catch (err) {
    // The manifest does not parse: the pipeline would stop at the same schema issues (its checks need a manifest).
    if (!(err instanceof ManifestRejectedError)) throw err;
    return {
      valid: false,
      uploadId,
      checks: [],
      reasons: err.issues.map((i) => `${i.path}: ${i.message}`),
      champion: 'not-needed',
    };
  }
  const settings = options.settings ?? (await projectValidationSettings());
  const { name: model, version } = bundle.manifest;
  const dir = `${PREFIX.incoming}${model}/${version}/${uploadId}/`;
  const manifestKey = `${dir}${MANIFEST_FILE}`;
  const registry = new BundleRegistry();
  registry.addText(manifestKey, bundle.manifestText);
  await registry.addFile(`${dir}${bundle.manifest.artifact.file}`, bundle.artifactPath);
  const champion = new ReadOnlyChampion(options.ledger);
  const runtime = options.runtime ?? (await loadOnnxModelRuntime());

  const result = await validateRelease(
    {
      registry,
      versions: champion,
      deployments: champion,
      audit: new DiscardedAuditLog(),
      runtime,
      settings,
    },
    { key: manifestKey, executionId: `modelops-validate-${uploadId}` },
  );
  let checks = result.valid ? [...result.checks] : [];
  // validateRelease only reports checks when it passes; on failure it returns the reasons alone.
  const reasons = result.valid ? [] : [...result.reasons];
  if (champion.unreachable !== undefined) {
    // With no ledger, "no stable version" would be a guess: say the comparison did not happen, and why.
    checks = checks.filter((c) => !/^champion: no champion|^gate: no champion/.test(c));
    const regressionGates = Object.keys(bundle.manifest.gates.maxRegression);
    checks.push(
      `${CHAMPION_NOT_COMPARED}${champion.unreachable ? `: ${champion.unreachable}` : ''}` +
        (regressionGates.length > 0
          ? `; regression gates not evaluated (${regressionGates.join(', ')})`
          : ''),
    );
  }
  return {
    valid: result.valid,
    bundle,
    uploadId,
    manifestKey,
    checks,
    reasons,
    champion: champion.unreachable !== undefined ? 'unreachable' : champion.read ? 'read' : 'not-needed',
  };
}

/** Prints every check (stdout) and every reason (stderr) and the verdict. */
export function printValidation(
  v: BundleValidation,
  io: CliIo,
  context: { readonly bundleDir: string; readonly ledgerDescription?: string },
): void {
  if (v.bundle) {
    const { name, version } = v.bundle.manifest;
    io.out(
      `Validating ${name} ${version} from ${context.bundleDir} (sha256 ${v.bundle.sha256}, ${v.bundle.sizeBytes} bytes)` +
        (context.ledgerDescription ? `; champion from ${context.ledgerDescription}` : ''),
    );
    for (const w of v.bundle.warnings) io.err(`warning: ${w}`);
    for (const n of v.bundle.notes) io.out(`  ${n}`);
  } else {
    io.out(`Validating ${context.bundleDir}`);
  }
  for (const c of v.checks) io.out(`  ${c.startsWith(CHAMPION_NOT_COMPARED) ? 'skip' : 'ok  '}  ${c}`);
  for (const r of v.reasons) io.err(`  FAIL  ${r}`);
  if (v.valid) io.out(`VALID: every check passed (${v.checks.length})`);
  else io.err(`INVALID: ${v.reasons.length} reason(s); fix them and validate again`);
}

interface BundleObject {
  readonly head: ObjectHead;
  readonly text?: string;
  readonly file?: string;
}

const READ_ONLY = 'modelops validate writes nothing: the registry here is read-only';

/**
 * The bundle's files under their incoming keys, read-only. The artifact is served from its file (a model can be
 * large); its "ETag" is local (size and mtime), enough for the one validation that reads it.
 */
class BundleRegistry implements RegistryStore {
  private readonly objects = new Map<string, BundleObject>();

  addText(key: string, text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    this.objects.set(key, {
      head: { key, sizeBytes: bytes.byteLength, etag: `"${sha256OfBytes(text)}"` },
      text,
    });
  }

  async addFile(key: string, file: string): Promise<void> {
    const s = await stat(file);
    this.objects.set(key, { head: { key, sizeBytes: s.size, etag: `"local-${s.size}-${s.mtimeMs}"` }, file });
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    return this.objects.get(key)?.head;
  }
  async readText(key: string, maxBytes: number): Promise<string | undefined> {
    const o = this.objects.get(key);
    if (!o) return undefined;
    if (o.head.sizeBytes > maxBytes) throw new ObjectTooLargeError(key, o.head.sizeBytes, maxBytes);
    return o.text ?? decodeUtf8Strict(await readFile(o.file!), key);
  }
  async readStream(key: string): Promise<Readable> {
    const o = this.get(key);
    return o.file !== undefined ? createReadStream(o.file) : Readable.from([Buffer.from(o.text!, 'utf8')]);
  }
  async readBytes(key: string): Promise<Uint8Array> {
    const o = this.get(key);
    return o.file !== undefined ? readFile(o.file) : Buffer.from(o.text!, 'utf8');
  }
  async copyIfAbsent(): Promise<'copied' | 'exists'> {
    throw new Error(READ_ONLY);
  }
  async putText(): Promise<void> {
    throw new Error(READ_ONLY);
  }
  async list(prefix: string): Promise<readonly string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  private get(key: string): BundleObject {
    const o = this.objects.get(key);
    if (!o) throw new Error(`${key} is not part of the bundle (${path.basename(key)})`);
    return o;
  }
}

/**
 * The champion's two reads against the target ledger, and nothing else: every write throws. A failed read (no
 * ledger running, no credentials, no table) is remembered, not thrown, so validation still runs without a champion.
 */
class ReadOnlyChampion implements VersionStore, DeploymentStore {
  /** Set when the ledger could not be read (or none was given): why. */
  unreachable: string | undefined;
  read = false;

  constructor(private readonly ledger: ChampionLedger | undefined) {
    if (!ledger) this.unreachable = 'no ledger given';
  }

  async getDeployment(model: string): Promise<DeploymentRecord | undefined> {
    return this.attempt(() => this.ledger!.deployments.getDeployment(model));
  }
  async getVersion(model: string, version: string): Promise<VersionRecord | undefined> {
    return this.attempt(() => this.ledger!.versions.getVersion(model, version));
  }
  async listVersions(): Promise<readonly VersionRecord[]> {
    throw new Error(READ_ONLY);
  }
  async putVersionUnlessRegistered(): Promise<{
    readonly written: boolean;
    readonly current: VersionRecord;
  }> {
    throw new Error(READ_ONLY);
  }
  async putDeployment(): Promise<void> {
    throw new Error(READ_ONLY);
  }

  private async attempt<T>(read: () => Promise<T | undefined>): Promise<T | undefined> {
    if (this.unreachable !== undefined) return undefined;
    try {
      const value = await read();
      this.read = true;
      return value;
    } catch (err) {
      this.unreachable = firstLine(err);
      return undefined;
    }
  }
}

/** Validation appends VALIDATION_PASSED; here it goes nowhere (validate records nothing). */
class DiscardedAuditLog implements AuditLogStore {
  private readonly events: AuditEvent[] = [];
  async appendAudit(event: AuditEvent): Promise<void> {
    this.events.push(event);
  }
  async listAudit(): Promise<readonly AuditEvent[]> {
    return this.events;
  }
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message || err.name : String(err);
  return (message.split('\n')[0] ?? message).slice(0, 300);
}

/**
 * `validate --json`: the verdict as one document (docs/cli.md#json-output). `model`, `version`, `sha256` and
 * `sizeBytes` are null when the manifest could not be read.
 */
export function validationDocument(
  v: BundleValidation,
  context: { readonly bundleDir: string; readonly ledgerDescription?: string },
): Record<string, unknown> {
  return {
    bundleDir: context.bundleDir,
    model: v.bundle?.manifest.name ?? null,
    version: v.bundle?.manifest.version ?? null,
    sha256: v.bundle?.sha256 ?? null,
    sizeBytes: v.bundle?.sizeBytes ?? null,
    valid: v.valid,
    checks: v.checks,
    reasons: v.reasons,
    warnings: v.bundle?.warnings ?? [],
    notes: v.bundle?.notes ?? [],
    champion: v.champion,
    ledger: context.ledgerDescription ?? null,
    uploadId: v.uploadId,
  };
}
