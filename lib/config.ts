/**
 * Typed project configuration (`modelops.config.ts`), validated with zod. Reference: docs/config.md.
 * Errors name the field, the value received and the fix; `loadConfig` throws one `ConfigError` listing them all.
 */
import { z } from 'zod';
import { modelNameSchema, RISK_TIERS, formatPath, requiredFieldMessage } from '../lambdas/core/manifest';

const MiB = 1024 * 1024;

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const wholeNumber = (min: number, max: number, unit: string) =>
  z
    .number()
    .int({ error: `must be a whole number of ${unit}` })
    .min(min, { error: `must be at least ${min} ${unit}` })
    .max(max, { error: `must be at most ${max} ${unit}` });

export const modelConfigSchema = z.strictObject({
  /** Same rules as a manifest's `name`; a bundle for a model not listed here is rejected. */
  name: modelNameSchema,
  target: z.enum(['lambda', 'sagemaker'], { error: 'must be "lambda" or "sagemaker"' }).default('lambda'),
  owner: z.string().trim().min(1, { error: 'must name the owning team or person' }),
  /** Overrides every manifest's `approval.required` when set. */
  approvalRequired: z.boolean().optional(),
  riskTier: z.enum(RISK_TIERS).default('medium'),
  /** Inference function memory (MB); Lambda allows 128–10240. */
  memoryMb: wholeNumber(128, 10_240, 'MB').default(1024),
  /** Inference function timeout (seconds). */
  timeoutSeconds: wholeNumber(1, 900, 'seconds').default(10),
  // Room for later issues: slo, canary, retrain.
});
export type ModelConfig = z.infer<typeof modelConfigSchema>;

export const configSchema = z
  .strictObject({
    /** Prefix for stack names and resource names. */
    project: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,30}$/, {
        error: 'must be 2-31 characters of a-z, 0-9, "-", starting with a letter',
      })
      .default('modelops'),
    /** Deployment stage, part of the stack name (dev, prod, …). */
    stage: z
      .string()
      .regex(/^[a-z][a-z0-9]{0,15}$/, {
        error: 'must be 1-16 characters of a-z and 0-9, starting with a letter',
      })
      .default('dev'),
    /** Target account and region; default: the CLI's current credentials (CDK_DEFAULT_ACCOUNT/REGION). */
    env: z
      .strictObject({
        account: z
          .string()
          .regex(/^\d{12}$/, { error: 'must be a 12-digit AWS account id' })
          .optional(),
        region: z
          .string()
          .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: 'must be an AWS region such as eu-west-1' })
          .optional(),
      })
      .default({}),
    registry: z
      .strictObject({
        /** Largest artifact ValidateArtifact accepts, in bytes. */
        maxArtifactBytes: wholeNumber(1, 10 * 1024 * MiB, 'bytes').default(512 * MiB),
        /** Uploads under incoming/ that were never released are deleted after this many days. */
        incomingExpirationDays: wholeNumber(1, 3650, 'days').default(14),
        /** Overwritten or deleted object versions are kept this many days. */
        noncurrentVersionExpirationDays: wholeNumber(1, 3650, 'days').default(90),
      })
      .default({
        maxArtifactBytes: 512 * MiB,
        incomingExpirationDays: 14,
        noncurrentVersionExpirationDays: 90,
      }),
    retention: z
      .strictObject({
        /** CloudWatch Logs retention for functions and state machines. */
        logDays: z
          .number()
          .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
            error: `must be one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(', ')}`,
          })
          .default(365),
        /** Server access logs of the registry bucket are kept this many days. */
        accessLogDays: wholeNumber(1, 3650, 'days').default(365),
      })
      .default({ logDays: 365, accessLogDays: 365 }),
    release: z
      .strictObject({
        /**
         * Reserved concurrency of each release function (validate, register, record-rejection): caps what a burst
         * of uploads can consume and guarantees the pipeline capacity. Needs an account quota above the default 10.
         */
        reservedConcurrency: wholeNumber(1, 1000, 'executions').default(5),
      })
      .default({ reservedConcurrency: 5 }),
    /** Alarm notifications go to this address (SNS e-mail subscription) when set. */
    alarmEmail: z.email({ error: 'must be an e-mail address, e.g. oncall@example.com' }).optional(),
    models: z.array(modelConfigSchema).min(1, { error: 'list at least one model' }),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.models.forEach((m, i) => {
      if (seen.has(m.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', i, 'name'],
          message: `duplicates model "${m.name}"`,
        });
      }
      seen.add(m.name);
    });
  });

export type ModelOpsConfig = z.infer<typeof configSchema>;
export type ModelOpsConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly issues: readonly string[]) {
    super(`Invalid modelops configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = root;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** Identity helper that gives `modelops.config.ts` type checking and editor completion. */
export function defineConfig(config: ModelOpsConfigInput): ModelOpsConfigInput {
  return config;
}

/** Validates raw configuration and applies defaults. Throws `ConfigError` naming every bad field. */
export function parseConfig(raw: unknown): ModelOpsConfig {
  const parsed = configSchema.safeParse(raw, { error: requiredFieldMessage });
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.error.issues.map(
      (i) => `${formatPath(i.path, '(config)')}: ${i.message} (got ${describeValue(valueAt(raw, i.path))})`,
    ),
  );
}
