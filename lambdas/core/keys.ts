/** Registry key layout: where a bundle is uploaded and where a registered version lives. */
import { createHash, randomBytes } from 'node:crypto';
import type { Manifest } from './manifest';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from './names';
import { PREFIX } from './tables';

export const MANIFEST_FILE = 'manifest.json';

/**
 * An upload id: the folder `modelops push` puts one push's files in, so that concurrent pushes of one version never
 * read each other's files. Sortable time first (`20261201T225700123Z`), then a random suffix: `<time>-<hex>`.
 */
export const UPLOAD_ID_PATTERN =
  /^(?:[0-9]{8}T[0-9]{9}Z-[0-9a-f]{8,32}|retrain-[A-Za-z0-9][A-Za-z0-9_-]{0,47})$/;

/**
 * A retrain run id (`r<n>`, docs/retrain.md): safe in S3 keys and in version strings. Its upload folder is
 * `retrain-<runId>`, an upload id of its own (`UPLOAD_ID_PATTERN` accepts it) so the run's bundle never shares files
 * with a push of the same version.
 */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/;

/** Where one retrain run keeps its files: `training/<model>/<runId>/`. */
export function trainingRunPrefix(model: string, runId: string): string {
  return `training/${model}/${runId}/`;
}

/** The training CSV PrepareTrainingData writes: `training/<model>/<runId>/data/train.csv`. */
export function trainingDataKey(model: string, runId: string): string {
  return `${trainingRunPrefix(model, runId)}data/train.csv`;
}

/** Where the Train step writes the trainer's output (model.tar.gz, or model.onnx + report.json). */
export function trainingOutputPrefix(model: string, runId: string): string {
  return `${trainingRunPrefix(model, runId)}output/`;
}

/** The folder Package uploads a retrained bundle to: `incoming/<model>/<version>/retrain-<runId>/`. */
export function retrainUploadDir(model: string, version: string, runId: string): string {
  return `${PREFIX.incoming}${model}/${version}/retrain-${runId}/`;
}

/** A new upload id for a push started at `now`. */
export function newUploadId(now: Date = new Date(), random: () => string = randomUploadSuffix): string {
  const t = now.toISOString().replace(/[-:.]/g, '');
  return `${t}-${random()}`;
}

function randomUploadSuffix(): string {
  return randomBytes(8).toString('hex');
}

export interface IncomingKey {
  /** Raw model segment (may be unsafe; only `issues` tells). */
  readonly model: string;
  /** Raw version segment(s): everything between the model and manifest.json (or the upload id). */
  readonly version: string;
  /** The upload id segment of `incoming/<model>/<version>/<upload-id>/manifest.json`; undefined for a plain upload. */
  readonly uploadId?: string;
  /** The folder the manifest is in, where its artifact is read from: `incoming/<model>/<version>/[<upload-id>/]`. */
  readonly dir: string;
  /** Why the key is not one of the two bundle layouts with a valid name, version and upload id; empty when fine. */
  readonly issues: readonly string[];
}

/**
 * Splits `incoming/<model>/<version>/manifest.json` (a plain `aws s3 cp`) or
 * `incoming/<model>/<version>/<upload-id>/manifest.json` (`modelops push`), reporting anything unsafe instead of
 * throwing. A third segment is an upload id only when it matches `UPLOAD_ID_PATTERN`; anything else is a layout
 * error, so a typo such as `incoming/m/v/x/manifest.json` is still rejected naming the layout.
 */
export function parseIncomingKey(key: string): IncomingKey {
  const issues: string[] = [];
  const rest = key.startsWith(PREFIX.incoming) ? key.slice(PREFIX.incoming.length) : key;
  const segments = rest.split('/');
  const file = segments.pop();
  const model = segments[0] ?? '';
  const third = segments.length === 3 ? segments[2]! : undefined;
  const uploadId = third !== undefined && UPLOAD_ID_PATTERN.test(third) ? third : undefined;
  const depth = uploadId !== undefined ? 3 : 2;
  const version = segments.slice(1, uploadId !== undefined ? 2 : undefined).join('/');
  const layout = `key "${key}" must be ${PREFIX.incoming}<model>/<version>/${MANIFEST_FILE} or ${PREFIX.incoming}<model>/<version>/<upload-id>/${MANIFEST_FILE}`;
  if (!key.startsWith(PREFIX.incoming) || file !== MANIFEST_FILE || segments.length !== depth) {
    issues.push(`${layout}; upload the bundle there`);
  }
  if (!MODEL_NAME_PATTERN.test(model)) {
    issues.push(
      `key: model segment "${model}" is not a valid model name (1-64 characters of a-z, 0-9 and "-")`,
    );
  }
  if (segments.length === depth && (!VERSION_PATTERN.test(version) || version.includes('..'))) {
    issues.push(
      `key: version segment "${version}" is not a valid version (1-64 characters of A-Z, a-z, 0-9, ".", "_", "-"; no "..")`,
    );
  }
  const dir = `${PREFIX.incoming}${model}/${version}/${uploadId !== undefined ? `${uploadId}/` : ''}`;
  return { model, version, ...(uploadId !== undefined ? { uploadId } : {}), dir, issues };
}

/**
 * A raw key segment made fit to be a DynamoDB key for the ledger: records must exist even for garbage uploads, so
 * the segment is kept as is, only bounded.
 */
export function ledgerSegment(raw: string): string {
  return raw.length === 0 ? '_unparseable' : raw.slice(0, 256);
}

/** The immutable, content-addressed artifact key of a registered version. */
export function registeredArtifactKey(
  model: string,
  version: string,
  sha256: string,
  framework: Manifest['framework'] = 'onnx',
): string {
  return `${PREFIX.models}${model}/${version}/${sha256}${framework === 'onnx' ? '.onnx' : '.tar.gz'}`;
}

/**
 * The fixed-name copy of a registered version's manifest, which serving reads today. Written copy-if-absent with the
 * same bytes as the content-addressed copy, before the record; never overwritten. Records written before manifests
 * were content-addressed name this key as their `manifestKey`.
 */
export function registeredManifestKey(model: string, version: string): string {
  return `${PREFIX.models}${model}/${version}/${MANIFEST_FILE}`;
}

/** The immutable, content-addressed copy of a registered version's manifest: `manifest-<sha256>.json`. */
export function contentAddressedManifestKey(model: string, version: string, manifestSha256: string): string {
  return `${PREFIX.models}${model}/${version}/manifest-${manifestSha256}.json`;
}

/**
 * How `variantNameFor` writes a version's separators: SageMaker variant names allow only letters, digits and `-`,
 * and a run of one, two or three dashes between two letters or digits reads back as exactly one separator.
 */
const SEPARATOR_DASHES: Readonly<Record<string, string>> = { '.': '-', '-': '--', _: '---' };
/** A version `v-…` can spell: separators single and between letters or digits, at most 61 characters spelled. */
const SPELLABLE_VERSION = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const VARIANT_NAME_MAX_LENGTH = 63;
const HASHED_VARIANT_HEX_DIGITS = 16;

/**
 * The SageMaker production variant that serves a version; the CDK construct and the router both use it, so the
 * router's TargetVariant always names a variant the endpoint config declares. Injective, so two versions never
 * share a variant (the router could not tell them apart):
 * - `v-` and the version spelled with `.` → `-`, `-` → `--`, `_` → `---` (semantic versions read as before:
 *   `1.2.0` → `v-1-2-0`; `1-2-0` → `v-1--2--0`);
 * - a version that cannot be spelled so (two separators in a row, a trailing separator, or longer than 63
 *   characters spelled) → `x-`, its letters and digits joined by `-` (at most 44), `-`, and 16 hex digits of its
 *   sha256. The prefixes differ, so the two forms never meet.
 *
 * @example variantNameFor('2.0.0-rc.1') // 'v-2-0-0--rc-1'
 */
export function variantNameFor(version: string): string {
  const spelled = `v-${version.replace(/[._-]/g, (c) => SEPARATOR_DASHES[c]!)}`;
  if (SPELLABLE_VERSION.test(version) && spelled.length <= VARIANT_NAME_MAX_LENGTH) return spelled;
  const head = version
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/-+$/, '')
    .slice(0, VARIANT_NAME_MAX_LENGTH - 3 - HASHED_VARIANT_HEX_DIGITS)
    .replace(/-+$/, '');
  const hash = createHash('sha256').update(version).digest('hex').slice(0, HASHED_VARIANT_HEX_DIGITS);
  return `x-${head}-${hash}`;
}
