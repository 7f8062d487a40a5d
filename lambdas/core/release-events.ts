/**
 * Events and results of the release handlers, fixed by stepfunctions/release.asl.json. Parsed with zod so a
 * malformed event fails with a message that names the field and the fix.
 */
import { z } from 'zod';
import { InvalidEventError } from './errors';
import { MANIFEST_FILE } from './keys';
import { RELEASE_TRIGGER_KEY_WILDCARD, startsRelease } from './release-trigger';
import { PREFIX } from './tables';

const SHA256 = /^[0-9a-f]{64}$/;
/** Step Functions state payloads are capped at 256 KB; keep what a handler returns well inside it. */
const MAX_REASONS = 100;
const MAX_REASON_CHARS = 1_000;

const keySchema = z
  .string({ error: 'is required: the S3 key of the uploaded manifest' })
  .min(1)
  .max(1024)
  .refine(startsRelease, {
    error: `must be an S3 key under ${PREFIX.incoming} ending in /${MANIFEST_FILE} that the release trigger matches (${RELEASE_TRIGGER_KEY_WILDCARD}); the EventBridge rule only delivers those uploads`,
  });

const executionIdSchema = z
  .string({ error: 'is required: pass $$.Execution.Id from the state machine' })
  .min(1)
  .max(2048);

function bucketSchema(registryBucket: string) {
  return z.string({ error: 'is required: the registry bucket name' }).refine((b) => b === registryBucket, {
    error: `must be the registry bucket "${registryBucket}" (REGISTRY_BUCKET); bundles are only accepted there`,
  });
}

export const validationPassedSchema = z.object({
  valid: z.literal(true),
  model: z.string().min(1),
  version: z.string().min(1),
  manifestKey: z.string().min(1),
  manifestEtag: z.string().min(1),
  manifestSha256: z.string().regex(SHA256),
  artifactKey: z.string().min(1),
  sha256: z.string().regex(SHA256),
  sizeBytes: z.number().int().min(0),
  etag: z.string().min(1),
  checks: z.array(z.string()),
});
export type ValidationPassed = z.infer<typeof validationPassedSchema>;

export interface ValidationFailed {
  readonly valid: false;
  readonly model: string;
  readonly version: string;
  readonly reasons: string[];
}
export type ValidationResult = ValidationPassed | ValidationFailed;

export function validateArtifactEventSchema(registryBucket: string) {
  return z.object({ bucket: bucketSchema(registryBucket), key: keySchema, executionId: executionIdSchema });
}
export type ValidateArtifactEvent = z.infer<ReturnType<typeof validateArtifactEventSchema>>;

export function registerVersionEventSchema(registryBucket: string) {
  return z
    .object({
      bucket: bucketSchema(registryBucket),
      key: keySchema,
      executionId: executionIdSchema,
      validation: validationPassedSchema,
    })
    .refine((e) => e.validation.manifestKey === e.key, {
      path: ['validation', 'manifestKey'],
      error: 'must equal key: register only the bundle that was validated in this execution',
    });
}
export type RegisterVersionEvent = z.infer<ReturnType<typeof registerVersionEventSchema>>;

export function recordRejectionEventSchema(registryBucket: string) {
  const base = {
    bucket: bucketSchema(registryBucket),
    key: z.string().max(1024),
    executionId: executionIdSchema,
  };
  return z.union(
    [
      z.object({ ...base, reasons: z.array(z.string()).min(1, { error: 'list at least one reason' }) }),
      z.object({
        ...base,
        // States.* errors carry Error and Cause; a Lambda error's Cause is its JSON-serialised error.
        error: z.object({ Error: z.string(), Cause: z.string().optional() }),
      }),
    ],
    { error: 'must carry either reasons (validation failed) or error {Error, Cause} (a step failed)' },
  );
}
export type RecordRejectionEvent = z.infer<ReturnType<typeof recordRejectionEventSchema>>;

/** Parses an event or throws `InvalidEventError` naming every bad field. */
export function parseEvent<T>(schema: z.ZodType<T>, event: unknown, handler: string): T {
  const parsed = schema.safeParse(event);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map(
    (i) => `event.${i.path.map(String).join('.') || '(root)'}: ${i.message}`,
  );
  throw new InvalidEventError(`${handler} received a malformed event: ${problems.join('; ')}`);
}

/** Bounds a list of reasons so a bundle with thousands of problems still fits a state payload and a ledger item. */
export function boundReasons(reasons: readonly string[]): string[] {
  const bounded = reasons
    .slice(0, MAX_REASONS)
    .map((r) => (r.length > MAX_REASON_CHARS ? `${r.slice(0, MAX_REASON_CHARS - 1)}…` : r));
  if (reasons.length > MAX_REASONS) bounded.push(`… and ${reasons.length - MAX_REASONS} more problems`);
  return bounded;
}
