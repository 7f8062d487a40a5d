/** Registry key layout: where a bundle is uploaded and where a registered version lives. */
import type { Manifest } from './manifest';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from './names';
import { PREFIX } from './tables';

export const MANIFEST_FILE = 'manifest.json';

export interface IncomingKey {
  /** Raw model segment (may be unsafe; only `issues` tells). */
  readonly model: string;
  /** Raw version segment(s): everything between the model and manifest.json. */
  readonly version: string;
  /** `incoming/<model>/<version>/`, the bundle's directory. */
  readonly dir: string;
  /** Why the key is not `incoming/<model>/<version>/manifest.json` with a valid name and version; empty when fine. */
  readonly issues: readonly string[];
}

/** Splits `incoming/<model>/<version>/manifest.json`, reporting anything unsafe instead of throwing. */
export function parseIncomingKey(key: string): IncomingKey {
  const issues: string[] = [];
  const rest = key.startsWith(PREFIX.incoming) ? key.slice(PREFIX.incoming.length) : key;
  const segments = rest.split('/');
  const file = segments.pop();
  const model = segments[0] ?? '';
  const version = segments.slice(1).join('/');
  const layout = `key "${key}" must be ${PREFIX.incoming}<model>/<version>/${MANIFEST_FILE}`;
  if (!key.startsWith(PREFIX.incoming) || file !== MANIFEST_FILE || segments.length !== 2) {
    issues.push(`${layout}; upload the bundle there`);
  }
  if (!MODEL_NAME_PATTERN.test(model)) {
    issues.push(
      `key: model segment "${model}" is not a valid model name (1-64 characters of a-z, 0-9 and "-")`,
    );
  }
  if (segments.length === 2 && (!VERSION_PATTERN.test(version) || version.includes('..'))) {
    issues.push(
      `key: version segment "${version}" is not a valid version (1-64 characters of A-Z, a-z, 0-9, ".", "_", "-"; no "..")`,
    );
  }
  return { model, version, dir: `${PREFIX.incoming}${model}/${version}/`, issues };
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

/** The immutable copy of a registered version's manifest. */
export function registeredManifestKey(model: string, version: string): string {
  return `${PREFIX.models}${model}/${version}/${MANIFEST_FILE}`;
}

/**
 * The SageMaker production variant that serves a version: `v-` plus the version with every character SageMaker does
 * not allow in a variant name (`[a-zA-Z0-9-]`, ≤ 63) replaced by `-`. Both the CDK construct and the router use
 * it, so the router's TargetVariant always names a variant the endpoint config declares.
 */
export function variantNameFor(version: string): string {
  return `v-${version.replace(/[^A-Za-z0-9-]/g, '-')}`.slice(0, 63);
}
