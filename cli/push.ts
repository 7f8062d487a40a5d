/**
 * `modelops push`: validate a bundle locally with the pipeline's own validation (cli/validate.ts; nothing is uploaded
 * when it fails), upload the artifact, THEN the manifest (the manifest's arrival starts the release), and follow the
 * release through the ledger until it ends. Each push uploads into its own folder,
 * `incoming/<model>/<version>/<upload-id>/`, so concurrent pushes of one version never read each other's files, and
 * it follows only the events of its own manifest key: another push's outcome is never reported as this one's.
 */
import { createReadStream } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MANIFEST_FILE, newUploadId } from '../lambdas/core/keys';
import type { AuditEvent } from '../lambdas/core/ports';
import { PREFIX } from '../lambdas/core/tables';
import type { ValidationSettings } from '../lambdas/core/validation';
import { CliError, UsageError, type CliIo } from './errors';
import { createLedgerStores, type LedgerStores } from './metadata';
import { s3Client, type Target } from './target';
import { printValidation, validateBundle } from './validate';

export interface PushOptions {
  readonly reference?: string;
  /** Follow the release until it ends. @default true */
  readonly follow?: boolean;
  /** Seconds to follow before giving up. @default 300 */
  readonly timeoutSeconds?: number;
  /** Poll interval while following. @default 500 */
  readonly pollMs?: number;
  /** Settings of the local validation. @default - from modelops.config.ts, as the stack and local mode load them */
  readonly settings?: ValidationSettings;
}

export type PushOutcome =
  | 'REGISTERED'
  | 'REGISTER_IDEMPOTENT'
  | 'VALIDATION_FAILED'
  | 'VERSION_CONFLICT'
  | 'RELEASE_FAILED'
  | 'UPLOADED'
  | 'TIMED_OUT';

export interface PushResult {
  readonly model: string;
  readonly version: string;
  readonly sha256: string;
  /** This push's folder under `incoming/<model>/<version>/`. */
  readonly uploadId: string;
  /** This push's manifest key: the release it started, and the one it followed. */
  readonly manifestKey: string;
  readonly outcome: PushOutcome;
  /** 0 on REGISTERED (or uploaded without following), 1 otherwise. */
  readonly exitCode: 0 | 1;
  readonly events: readonly AuditEvent[];
  /** Upload of the manifest to the terminal audit event, when followed. */
  readonly elapsedMs: number;
}

const TERMINAL: ReadonlySet<string> = new Set([
  'REGISTERED',
  'REGISTER_IDEMPOTENT',
  'VALIDATION_FAILED',
  'VERSION_CONFLICT',
  'RELEASE_FAILED',
]);

/**
 * Only bounds how much of the model's audit log each poll reads (reading the whole log on every poll halved the
 * throughput of 20 concurrent pushes): events are recognised as this push's by their manifest key, never by time. Its
 * events are all written after its manifest upload, so this margin only absorbs clock skew between the ledger's
 * writers and us.
 */
const READ_FROM_BEFORE_MS = 30_000;

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function describeEvent(e: AuditEvent): string[] {
  const d = e.details as Record<string, unknown>;
  switch (e.type) {
    case 'VALIDATION_PASSED': {
      const checks = Array.isArray(d.checks) ? d.checks.map(String) : [];
      return ['VALIDATION_PASSED', ...checks.map((c) => `  - ${c}`)];
    }
    case 'VALIDATION_FAILED': {
      const reasons = Array.isArray(d.reasons) ? d.reasons.map(String) : [];
      return [`VALIDATION_FAILED  ${reasons.length} reason(s):`, ...reasons.map((r) => `  - ${r}`)];
    }
    case 'REGISTERED':
      return [`REGISTERED         ${String(d.artifactKey ?? '')}`];
    case 'REGISTER_IDEMPOTENT':
      return [`REGISTERED         already registered with the same content (${String(d.artifactKey ?? '')})`];
    case 'VERSION_CONFLICT':
      return [
        d.registeredSha256 === d.pushedSha256
          ? `VERSION_CONFLICT   ${e.version} is registered with the same artifact but manifest sha256 ${String(d.registeredManifestSha256)}; this push's manifest has ${String(d.pushedManifestSha256)}. Push under a new version.`
          : `VERSION_CONFLICT   ${e.version} is registered with sha256 ${String(d.registeredSha256)}; this push has ${String(d.pushedSha256)} (manifest ${String(d.registeredManifestSha256 ?? '(unknown)')} vs ${String(d.pushedManifestSha256 ?? '(unknown)')}). Push under a new version.`,
      ];
    case 'RELEASE_FAILED':
      return [`RELEASE_FAILED     ${String(d.error)}: ${String(d.cause ?? '')}`, '  re-push to retry'];
    default:
      return [`${e.type}`];
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Pushes one bundle to `target`. Throws `CliError` (exit code on it) when nothing could be pushed.
 *
 * @example
 * const result = await push('examples/breast-cancer', await resolveTarget({ local: true }), {}, consoleIo);
 */
export async function push(
  bundleDir: string,
  target: Target,
  options: PushOptions,
  io: CliIo,
  stores?: Pick<LedgerStores, 'versions' | 'deployments' | 'audit'>,
): Promise<PushResult> {
  const timeoutSeconds = options.timeoutSeconds ?? 300;
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new UsageError(`--timeout must be a positive number of seconds, got ${timeoutSeconds}`);
  }
  const ledger = stores ?? createLedgerStores(target);
  // The same validation the pipeline runs, under the very key this push uploads to; nothing leaves the machine when
  // it fails. The pipeline validates again once uploaded (the registry is the authority, the CLI a fast check).
  const uploadId = newUploadId();
  const validation = await validateBundle(bundleDir, {
    ...(options.reference !== undefined ? { reference: options.reference } : {}),
    ...(options.settings !== undefined ? { settings: options.settings } : {}),
    ledger,
    uploadId,
  });
  printValidation(validation, io, { bundleDir, ledgerDescription: target.description });
  const bundle = validation.bundle;
  if (!validation.valid || !bundle) {
    throw new CliError(
      `${bundleDir} failed validation (${validation.reasons.length} reason(s) above); nothing was uploaded`,
      1,
    );
  }
  const { name: model, version } = bundle.manifest;
  const dir = `${PREFIX.incoming}${model}/${version}/${uploadId}/`;
  const artifactKey = `${dir}${bundle.manifest.artifact.file}`;
  const manifestKey = `${dir}${MANIFEST_FILE}`;
  io.out(
    `Pushing ${model} ${version} (sha256 ${bundle.sha256}, ${formatBytes(bundle.sizeBytes)}) to ${target.description}`,
  );

  const s3 = s3Client(target);
  let since: string;
  let manifestUploadedAt: number;
  try {
    const upload = new Upload({
      client: s3,
      params: {
        Bucket: target.bucket,
        Key: artifactKey,
        Body: createReadStream(bundle.artifactPath),
        ContentType: 'application/octet-stream',
      },
    });
    let lastPercent = -1;
    upload.on('httpUploadProgress', (p) => {
      const total = p.total ?? bundle.sizeBytes;
      const percent = total > 0 ? Math.floor(((p.loaded ?? 0) / total) * 100) : 100;
      // Quarter steps: enough to see progress on a large model without flooding a log.
      const step = Math.floor(percent / 25) * 25;
      if (step > lastPercent) {
        lastPercent = step;
        io.out(
          `  upload ${bundle.manifest.artifact.file}: ${step}% (${formatBytes(p.loaded ?? 0)} of ${formatBytes(total)})`,
        );
      }
    });
    await upload.done();
    since = new Date(Date.now() - READ_FROM_BEFORE_MS).toISOString();
    manifestUploadedAt = Date.now();
    await s3.send(
      new PutObjectCommand({
        Bucket: target.bucket,
        Key: manifestKey,
        Body: bundle.manifestText,
        ContentType: 'application/json',
      }),
    );
  } catch (err) {
    throw new CliError(
      `upload to s3://${target.bucket}/${dir} failed: ${(err as Error).message}` +
        (target.s3Endpoint ? ` (is the S3 endpoint ${target.s3Endpoint} running? npm start)` : ''),
    );
  } finally {
    s3.destroy();
  }
  io.out(`  uploaded s3://${target.bucket}/${manifestKey}; the release has started`);

  const base = { model, version, sha256: bundle.sha256, uploadId, manifestKey };
  if (options.follow === false) {
    return { ...base, outcome: 'UPLOADED', exitCode: 0, events: [], elapsedMs: 0 };
  }

  const { versions, audit } = ledger;
  const seen = new Set<string>();
  const events: AuditEvent[] = [];
  const deadline = manifestUploadedAt + timeoutSeconds * 1000;
  for (;;) {
    let batch: readonly AuditEvent[] = [];
    try {
      batch = await audit.listAudit(model, { since });
    } catch (err) {
      throw new CliError(
        `reading the audit log failed: ${(err as Error).message}` +
          (target.dynamodbEndpoint ? ` (is the DynamoDB endpoint ${target.dynamodbEndpoint} running?)` : ''),
      );
    }
    for (const e of batch) {
      // Only this push's release: its events name its own manifest key.
      if (e.version !== version || e.details.key !== manifestKey || seen.has(e.eventId)) continue;
      seen.add(e.eventId);
      events.push(e);
      for (const line of describeEvent(e)) io.out(`  ${line}`);
      if (TERMINAL.has(e.type)) {
        const outcome = e.type as PushOutcome;
        const ok = outcome === 'REGISTERED' || outcome === 'REGISTER_IDEMPOTENT';
        const record = await versions.getVersion(model, version).catch(() => undefined);
        if (record) {
          io.out(
            `  version record: ${record.status}${record.sha256 ? ` sha256 ${record.sha256}` : ''}` +
              `${record.manifestSha256 ? ` manifest sha256 ${record.manifestSha256}` : ''}`,
          );
        }
        return { ...base, outcome, exitCode: ok ? 0 : 1, events, elapsedMs: Date.now() - manifestUploadedAt };
      }
    }
    if (Date.now() >= deadline) {
      io.err(
        `no final decision for ${model} ${version} within ${timeoutSeconds} s; check \`modelops status ${model}\`` +
          (target.s3Endpoint ? ' and that `npm start` is running' : ''),
      );
      return {
        ...base,
        outcome: 'TIMED_OUT',
        exitCode: 1,
        events,
        elapsedMs: Date.now() - manifestUploadedAt,
      };
    }
    await sleep(options.pollMs ?? 500);
  }
}
