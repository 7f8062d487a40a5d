/**
 * The contract between `modelops retrain` and local mode (docs/retrain.md#local-mode), kept free of emulator
 * imports so the CLI can load it: a manual start is the retrain start input written as JSON to
 * `retrain-requests/<model>/<execution name>.json` in the local bucket; local mode's retrain trigger service
 * (./retrain-scheduler.ts) sees the object's s3rver event and starts the execution under that name.
 */
import { randomBytes } from 'node:crypto';
import { MODEL_NAME_PATTERN } from '../lambdas/core/names';
import type { TriggerKind } from '../lambdas/core/retrain-policy';

/** Where `modelops retrain` drops a manual start for local mode. */
export const RETRAIN_REQUEST_PREFIX = 'retrain-requests/';

/** Step Functions execution names: 1-80 of letters, digits, "-" and "_". */
export const EXECUTION_NAME_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;

/** Local mode's account and region (local/asl-runner.ts), as literals so the CLI does not load the runner. */
const LOCAL_EXECUTION_ARN_PREFIX = 'arn:aws:states:us-east-1:000000000000:execution:retrain:';

/** The key of a manual start request for local mode. */
export function retrainRequestKey(model: string, executionName: string): string {
  return `${RETRAIN_REQUEST_PREFIX}${model}/${executionName}.json`;
}

/** The model and execution name of a request key, or undefined for any other key. */
export function parseRetrainRequestKey(key: string): { model: string; name: string } | undefined {
  const m = /^retrain-requests\/([^/]+)\/([^/]+)\.json$/.exec(key);
  if (!m || !MODEL_NAME_PATTERN.test(m[1]!) || !EXECUTION_NAME_PATTERN.test(m[2]!)) return undefined;
  return { model: m[1]!, name: m[2]! };
}

/** `$$.Execution.Id` of a local retrain execution (what the Guard audits as the actor). */
export function localRetrainExecutionArn(name: string): string {
  return `${LOCAL_EXECUTION_ARN_PREFIX}${name}`;
}

/**
 * A retrain execution name: `<model>-retrain-<trigger>-<yyyymmddHHMMSSmmm>-<4 hex>`, at most 80 characters. The
 * same for every trigger and for the CLI, so an execution list reads as a history of what started each run.
 */
export function retrainExecutionName(
  model: string,
  trigger: TriggerKind,
  nowMs: number,
  suffix?: string,
): string {
  const stamp = new Date(nowMs)
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 17);
  const tail = suffix ?? randomBytes(2).toString('hex');
  const head = `${model}-retrain-${trigger}`.slice(0, 80 - stamp.length - tail.length - 2);
  return `${head}-${stamp}-${tail}`.replace(/[^A-Za-z0-9_-]/g, '_');
}
