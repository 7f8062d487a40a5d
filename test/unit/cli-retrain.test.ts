import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../lambdas/core/ports';
import { parseConfig, type ModelOpsConfig } from '../../lib/config';
import type { CliIo } from '../../cli/errors';
import { executionConsoleUrl, manualRetrainInput, retrain, type RetrainDeps } from '../../cli/retrain';
import type { Target } from '../../cli/target';

const CONFIG: ModelOpsConfig = parseConfig({
  models: [
    {
      name: 'breast-cancer',
      owner: 'ml-platform',
      retrain: {
        enabled: true,
        trainer: { command: ['node', 'train.js'] },
        championGate: { metric: 'auc' },
      },
    },
    { name: 'credit-risk', owner: 'ml-platform' },
  ],
});

const AWS_TARGET: Target = {
  description: 'stack modelops-dev',
  region: 'eu-west-1',
  bucket: 'registry',
  tables: { AUDIT_LOG_TABLE: 'AuditLog-x' },
};
const LOCAL_TARGET: Target = { ...AWS_TARGET, description: 'local', s3Endpoint: 'http://127.0.0.1:4568' };
const SM_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:modelops-dev-retrain';

function io(): CliIo & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) };
}

function deps(over: Partial<RetrainDeps> = {}) {
  const writes: { kind: string; args: unknown[] }[] = [];
  const d: RetrainDeps = {
    config: async () => CONFIG,
    now: () => Date.parse('2026-12-04T12:00:00.000Z'),
    stackOutputs: async () => ({
      ReleaseStateMachineArn: 'x',
      RetrainPipelineRetrainStateMachineArnAB12: SM_ARN,
    }),
    startExecution: async (arn, name, input) => {
      writes.push({ kind: 'start', args: [arn, name, input] });
      return { executionArn: `${arn.replace(':stateMachine:', ':execution:')}:${name}` };
    },
    putRequest: async (key, body) => {
      writes.push({ kind: 'put', args: [key, body] });
    },
    audit: { listAudit: async () => [] },
    sleep: async () => undefined,
    pollMs: 1,
    ...over,
  };
  return { d, writes };
}

describe('manualRetrainInput', () => {
  it('builds the documented manual start input', () => {
    expect(manualRetrainInput('breast-cancer', '  labels arrived ', CONFIG, 'cli:ana')).toEqual({
      model: 'breast-cancer',
      trigger: 'manual',
      reason: 'labels arrived',
      requestedBy: 'cli:ana',
    });
  });

  it('carries --take-over, and refuses an empty one naming the flag', () => {
    const arn = 'arn:aws:states:eu-west-1:1:execution:retrain:dead-run';
    expect(manualRetrainInput('breast-cancer', 'stuck run', CONFIG, 'cli:ana', arn)).toMatchObject({
      takeOver: arn,
    });
    expect(() => manualRetrainInput('breast-cancer', 'stuck run', CONFIG, 'cli:ana', '')).toThrow(
      /--take-over/,
    );
  });

  it.each([
    ['Bad_Name', 'why', /is not a model name/],
    ['breast-cancer', undefined, /--reason is required/],
    ['breast-cancer', '   ', /--reason is required/],
    ['fraud', 'why', /"fraud" is not in modelops\.config\.ts \(configured: breast-cancer, credit-risk\)/],
    [
      'credit-risk',
      'why',
      /"credit-risk" has no retrain enabled \(models with retrain: breast-cancer\); set models\[credit-risk\]\.retrain\.enabled/,
    ],
    ['breast-cancer', 'x'.repeat(501), /reason: must be at most 500 characters/],
  ])('rejects %s with reason %s, naming the fix', (model, reason, message) => {
    expect(() => manualRetrainInput(model, reason, CONFIG, 'cli:ana')).toThrow(message);
  });
});

describe('modelops retrain', () => {
  it('starts the stack state machine with the manual input and prints the execution ARN and console link', async () => {
    const { d, writes } = deps({ audit: undefined });
    const out = io();
    const result = await retrain(
      'breast-cancer',
      { reason: 'labels arrived', stack: 'modelops-dev', follow: false, name: 'my-run' },
      AWS_TARGET,
      out,
      d,
    );
    expect(writes).toHaveLength(1);
    const [arn, name, input] = writes[0]!.args as [string, string, string];
    expect(arn).toBe(SM_ARN);
    expect(name).toBe('my-run');
    expect(JSON.parse(input)).toMatchObject({
      model: 'breast-cancer',
      trigger: 'manual',
      reason: 'labels arrived',
    });
    expect(result.executionArn).toBe(
      'arn:aws:states:eu-west-1:123456789012:execution:modelops-dev-retrain:my-run',
    );
    expect(out.lines.join('\n')).toContain(
      'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/' +
        result.executionArn,
    );
  });

  it('waits for the Guard decision and reports a skip with its reason', async () => {
    const executionArn = 'arn:aws:states:eu-west-1:123456789012:execution:modelops-dev-retrain:my-run';
    let reads = 0;
    const skipped: AuditEvent = {
      model: 'breast-cancer',
      eventId: '2026-12-04T12:00:01.000Z#a',
      at: '2026-12-04T12:00:01.000Z',
      type: 'RETRAIN_SKIPPED',
      version: '1.0.0',
      actor: executionArn,
      details: { code: 'RETRAIN_RUNNING', reason: 'retrain r3 of breast-cancer is running' },
    };
    const { d } = deps({
      audit: {
        listAudit: async (_model, options) => {
          expect(options?.since).toBe('2026-12-04T11:59:00.000Z');
          reads += 1;
          return reads < 3 ? [{ ...skipped, actor: 'another-execution' }] : [skipped];
        },
      },
    });
    const out = io();
    const result = await retrain(
      'breast-cancer',
      { reason: 'labels arrived', stack: 'modelops-dev', name: 'my-run' },
      AWS_TARGET,
      out,
      d,
    );
    expect(result.decision?.type).toBe('RETRAIN_SKIPPED');
    expect(out.lines.at(-1)).toBe(
      'RETRAIN_SKIPPED (RETRAIN_RUNNING): retrain r3 of breast-cancer is running',
    );
  });

  it('fails when no decision comes in time, saying where to look', async () => {
    let t = 0;
    const { d } = deps({ now: () => (t += 1_000) });
    await expect(
      retrain('breast-cancer', { reason: 'x', timeoutSeconds: 5 }, LOCAL_TARGET, io(), d),
    ).rejects.toThrow(/decided nothing within 5 s; is `npm start` running/);
  });

  it('writes a local request under the execution name, and reads the decision by that execution ARN', async () => {
    const { d, writes } = deps();
    const started: AuditEvent = {
      model: 'breast-cancer',
      eventId: '2026-12-04T12:00:01.000Z#a',
      at: '2026-12-04T12:00:01.000Z',
      type: 'RETRAIN_STARTED',
      version: '1.0.0',
      actor: 'arn:aws:states:us-east-1:000000000000:execution:retrain:local-run',
      details: { runId: 'r4' },
    };
    const out = io();
    await retrain('breast-cancer', { reason: 'why', name: 'local-run' }, LOCAL_TARGET, out, {
      ...d,
      audit: { listAudit: async () => [started] },
    });
    expect(writes.map((w) => w.args[0])).toEqual(['retrain-requests/breast-cancer/local-run.json']);
    expect(out.lines.at(-1)).toMatch(
      /^RETRAIN_STARTED: run r4 from breast-cancer 1\.0\.0; .* as breast-cancer 1\.0\.0-r4\./,
    );
  });

  it.each([
    [{ reason: 'why', stack: 's', name: 'bad name' }, /--name "bad name" is not an execution name/],
    [{ reason: '', stack: 's' }, /--reason is required/],
    [
      { reason: 'why', stateMachineArn: 'arn:nope' },
      /--state-machine-arn "arn:nope" is not a state machine ARN/,
    ],
  ])('refuses bad input before anything is started or written (%j)', async (options, message) => {
    const { d, writes } = deps();
    await expect(retrain('breast-cancer', options, AWS_TARGET, io(), d)).rejects.toThrow(message);
    expect(writes).toEqual([]);
  });

  it('refuses a stack without the retrain output, naming the fix', async () => {
    const { d, writes } = deps({ stackOutputs: async () => ({ ReleaseStateMachineArn: 'x' }) });
    await expect(
      retrain('breast-cancer', { reason: 'why', stack: 'modelops-dev' }, AWS_TARGET, io(), d),
    ).rejects.toThrow(/has no output RetrainStateMachineArn.*--state-machine-arn/);
    expect(writes).toEqual([]);
  });

  it('does not resolve the target until the arguments passed their checks', async () => {
    const { d } = deps();
    let resolved = false;
    await expect(
      retrain(
        'credit-risk',
        { reason: 'why', stack: 's' },
        async () => {
          resolved = true;
          return AWS_TARGET;
        },
        io(),
        d,
      ),
    ).rejects.toThrow(/no retrain enabled/);
    expect(resolved).toBe(false);
  });

  it('links an execution to its region in the console', () => {
    expect(executionConsoleUrl('arn:aws:states:ap-south-1:1:execution:sm:n')).toBe(
      'https://ap-south-1.console.aws.amazon.com/states/home?region=ap-south-1#/v2/executions/details/arn:aws:states:ap-south-1:1:execution:sm:n',
    );
  });
});
