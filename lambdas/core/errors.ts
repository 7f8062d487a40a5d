/**
 * Typed errors. Step Functions matches `ErrorEquals` on `name`, so every name here is part of the contract with
 * stepfunctions/*.asl.json: `TransientStoreError` is retried, `VersionConflictError` ends in the VersionConflict state.
 */

/** A store call failed in a way worth retrying (throttling, 5xx, network). The ASL retries it with backoff. */
export class TransientStoreError extends Error {
  override name = 'TransientStoreError';
}

/**
 * The version is already REGISTERED (or reserved by a registration in progress) with different content: another
 * artifact, or the same artifact with another manifest. The registered version stands untouched.
 */
export class VersionConflictError extends Error {
  override name = 'VersionConflictError';
  readonly registeredManifestSha256: string | undefined;
  readonly pushedManifestSha256: string | undefined;
  constructor(
    readonly model: string,
    readonly version: string,
    readonly registeredSha256: string | undefined,
    readonly pushedSha256: string,
    manifests: { registeredManifestSha256?: string; pushedManifestSha256?: string } = {},
  ) {
    const sameArtifact = registeredSha256 === pushedSha256;
    const manifestPart =
      manifests.pushedManifestSha256 !== undefined
        ? `; registered manifest sha256 ${manifests.registeredManifestSha256 ?? '(unknown)'}, pushed manifest sha256 ${manifests.pushedManifestSha256}`
        : '';
    super(
      `${model} ${version} is already registered with ${sameArtifact ? 'the same artifact but another manifest' : `artifact sha256 ${registeredSha256 ?? '(unknown)'}; the pushed artifact has sha256 ${pushedSha256}`}` +
        `${manifestPart}. Registered versions are immutable: push under a new version.`,
    );
    this.registeredManifestSha256 = manifests.registeredManifestSha256;
    this.pushedManifestSha256 = manifests.pushedManifestSha256;
  }
}

/** A handler received an event that does not match its contract; the message names the field and the fix. */
export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

/** An object changed between validation and registration (re-upload in between); re-push to validate again. */
export class SourceChangedError extends Error {
  override name = 'SourceChangedError';
}

/** An object is larger than the caller allows; raised before its body is read. */
export class ObjectTooLargeError extends Error {
  override name = 'ObjectTooLargeError';
  constructor(
    readonly key: string,
    readonly sizeBytes: number,
    readonly maxBytes: number,
  ) {
    super(`${key} is ${sizeBytes} bytes, larger than the ${maxBytes} bytes allowed`);
  }
}

/** An audit event with this id already exists; the ledger is append-only. */
export class DuplicateAuditEventError extends Error {
  override name = 'DuplicateAuditEventError';
}

/** A required environment variable is missing or malformed; the message names it. */
export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

/** One problem encoding one instance's features into tensors. */
export interface FeatureEncodingIssue {
  /** Index of the instance in the request. */
  readonly instance: number;
  readonly feature: string;
  readonly message: string;
}

/** Instances that cannot be encoded into the manifest's input tensors; lists every problem. */
export class FeatureEncodingError extends Error {
  override name = 'FeatureEncodingError';
  constructor(readonly issues: readonly FeatureEncodingIssue[]) {
    super(
      `cannot encode instances: ${issues
        .slice(0, 10)
        .map((i) => `instance ${i.instance} feature "${i.feature}": ${i.message}`)
        .join('; ')}${issues.length > 10 ? `; and ${issues.length - 10} more` : ''}`,
    );
  }
}

/**
 * A remote backend failed (the endpoint's error, an unusable answer). The caller's input had already been
 * validated, so it is answered 502 BadGateway with `message`, never 400. Takes `{ cause }` like any Error.
 */
export class BackendError extends Error {
  override name = 'BackendError';
}

/** The version cannot be loaded by this backend (e.g. a SageMaker-format artifact sent to the ONNX function). */
export class UnsupportedArtifactError extends Error {
  override name = 'UnsupportedArtifactError';
}

/** Stored text is not valid UTF-8; the message names the byte offset so the author can find it. */
export class InvalidUtf8Error extends Error {
  override name = 'InvalidUtf8Error';
  constructor(
    readonly what: string,
    readonly byteOffset: number,
  ) {
    super(`${what} is not valid UTF-8 at byte offset ${byteOffset}; save it as UTF-8`);
  }
}

/**
 * The Lambda error document Step Functions passes as a failed Task's Cause, `{"errorType","errorMessage","trace"}`;
 * undefined when the Cause is anything else (a service integration's error, a trainer's stderr).
 */
export function lambdaErrorOf(
  cause: string,
): { readonly type?: string; readonly message: string } | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(cause);
  } catch {
    return undefined;
  }
  const { errorType, errorMessage } = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<
    string,
    unknown
  >;
  if (typeof errorMessage !== 'string') return undefined;
  return { ...(typeof errorType === 'string' ? { type: errorType } : {}), message: errorMessage };
}
