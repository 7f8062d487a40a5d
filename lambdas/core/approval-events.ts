/**
 * Inputs of the approval Tasks of release.asl.json (CheckApproval, AwaitApproval, ExpireApproval) and the per-model
 * approval policies the function receives in APPROVAL_POLICIES. A malformed input is refused with every bad field
 * named (InvalidEventError) before anything is read or written.
 */
import { z } from 'zod';
import type { ApprovalPolicy } from './approval';
import { ConfigurationError } from './errors';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from './names';
import { APPROVAL_POLICIES_ENV } from './tables';

export { APPROVAL_POLICIES_ENV, EVENT_BUS_NAME_ENV } from './tables';

/** Step Functions caps a task's timeout at one year. */
export const MAX_APPROVAL_TIMEOUT_SECONDS = 31_536_000;

const registration = z.object({
  model: z.string().regex(MODEL_NAME_PATTERN, { error: 'must be a model name (a-z, 0-9, "-")' }),
  version: z.string().regex(VERSION_PATTERN, { error: 'must be a version (A-Z, a-z, 0-9, ".", "_", "-")' }),
});
const executionId = z
  .string({ error: 'is required: pass $$.Execution.Id from the state machine' })
  .min(1)
  .max(2048);

export const approvalEventSchema = z.discriminatedUnion(
  'action',
  [
    z.object({ action: z.literal('check'), executionId, registration }),
    z.object({
      action: z.literal('request'),
      executionId,
      registration,
      taskToken: z
        .string({ error: 'is required: pass $$.Task.Token from a .waitForTaskToken state' })
        .min(1)
        .max(8192),
      approval: z.object({
        why: z.string().min(1).max(1000),
        timeoutSeconds: z.number().int().min(1).max(MAX_APPROVAL_TIMEOUT_SECONDS),
      }),
    }),
    z.object({ action: z.literal('expire'), executionId, registration }),
  ],
  { error: 'must be "check", "request" or "expire"' },
);
export type ApprovalEvent = z.infer<typeof approvalEventSchema>;

const policySchema = z.object({
  required: z.boolean().optional(),
  riskTier: z.enum(['low', 'medium', 'high']),
  timeoutSeconds: z.number().int().min(1).max(MAX_APPROVAL_TIMEOUT_SECONDS),
});

/** Parses APPROVAL_POLICIES; throws ConfigurationError naming the model and field. */
export function parseApprovalPolicies(text: string | undefined): ReadonlyMap<string, ApprovalPolicy> {
  if (text === undefined || text.trim() === '') return new Map();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigurationError(`${APPROVAL_POLICIES_ENV} is not JSON: ${(err as Error).message}`);
  }
  const parsed = z.record(z.string(), policySchema).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigurationError(
      `${APPROVAL_POLICIES_ENV}.${issue.path.map(String).join('.')}: ${issue.message}; redeploy from modelops.config.ts`,
    );
  }
  return new Map(Object.entries(parsed.data));
}

/**
 * The APPROVAL_POLICIES value: the models whose releases route traffic by themselves (`canary.enabled`). Any other
 * model's version stays REGISTERED until a person promotes it, which is the approval.
 */
export function approvalPoliciesEnvValue(
  models: readonly {
    readonly name: string;
    readonly approvalRequired?: boolean | undefined;
    readonly riskTier: ApprovalPolicy['riskTier'];
    readonly approvalTimeoutSeconds: number;
    readonly canary: { readonly enabled: boolean };
  }[],
): string {
  const policies: Record<string, ApprovalPolicy> = {};
  for (const m of models) {
    if (!m.canary.enabled) continue;
    policies[m.name] = {
      ...(m.approvalRequired !== undefined ? { required: m.approvalRequired } : {}),
      riskTier: m.riskTier,
      timeoutSeconds: m.approvalTimeoutSeconds,
    };
  }
  return JSON.stringify(policies);
}
