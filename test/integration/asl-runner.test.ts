/**
 * The local ASL runner on the REAL release definition with stand-in handlers: how errors, retries and catches
 * behave, independent of the emulators.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AslDefinitionError,
  AslRunner,
  loadDefinition,
  localFunctionArn,
  STEPFUNCTIONS_DIR,
  type LambdaHandler,
  type LocalFunction,
} from '../../local/asl-runner';
import { memoryLogger } from '../../local/logger';
import { TransientStoreError, VersionConflictError } from '../../lambdas/core/errors';

const RELEASE = path.join(STEPFUNCTIONS_DIR, 'release.asl.json');
const ARNS = {
  ValidateArtifactFunctionArn: localFunctionArn('validate'),
  RegisterVersionFunctionArn: localFunctionArn('register'),
  RecordRejectionFunctionArn: localFunctionArn('record'),
  StartRolloutFunctionArn: localFunctionArn('start'),
  AnalyzeCanaryFunctionArn: localFunctionArn('analyze'),
  AdvanceRolloutFunctionArn: localFunctionArn('advance'),
};

/** The rollout Tasks after RegisterVersion: these tests stop at registration (the model's canary is off). */
const ROLLOUT_OFF: LambdaHandler = async () => ({ next: 'skipped' });
const NOT_REACHED: LambdaHandler = async () => {
  throw new Error('a rollout Task ran although the canary is off');
};

function runner(handlers: { validate: LambdaHandler; register: LambdaHandler; record: LambdaHandler }) {
  const logger = memoryLogger();
  const fn = (name: keyof typeof handlers): LocalFunction => ({ name, load: async () => handlers[name] });
  const functions = new Map<string, LocalFunction>([
    [ARNS.ValidateArtifactFunctionArn, fn('validate')],
    [ARNS.RegisterVersionFunctionArn, fn('register')],
    [ARNS.RecordRejectionFunctionArn, fn('record')],
    [ARNS.StartRolloutFunctionArn, { name: 'start', load: async () => ROLLOUT_OFF }],
    [ARNS.AnalyzeCanaryFunctionArn, { name: 'analyze', load: async () => NOT_REACHED }],
    [ARNS.AdvanceRolloutFunctionArn, { name: 'advance', load: async () => NOT_REACHED }],
  ]);
  const r = new AslRunner({
    definition: loadDefinition(RELEASE, ARNS),
    stateMachineName: 'release',
    functions,
    logger,
    retryIntervalMs: 1,
  });
  return { r, logger };
}

const input = { bucket: 'b', key: 'incoming/m/v1/manifest.json' };
const ok = async () => ({ ok: true });

describe('AslRunner', () => {
  it('fails with a definition error naming a placeholder without substitution', () => {
    expect(() => loadDefinition(RELEASE, { ValidateArtifactFunctionArn: 'x' })).toThrow(
      /\$\{RegisterVersionFunctionArn\}/,
    );
    expect(() => loadDefinition(RELEASE, { ValidateArtifactFunctionArn: 'x' })).toThrow(AslDefinitionError);
  });

  it('routes a thrown VersionConflictError to the VersionConflict state by its name', async () => {
    const { r } = runner({
      validate: async () => ({ valid: true }),
      register: async () => {
        throw new VersionConflictError('m', 'v1', 'a'.repeat(64), 'b'.repeat(64));
      },
      record: ok,
    });
    const result = await r.run(input);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('VersionConflict');
    expect(result.history.filter((e) => e.type === 'StateEntered').map((e) => e.state)).toEqual([
      'ValidateArtifact',
      'IsArtifactValid',
      'RegisterVersion',
      'VersionConflict',
    ]);
  });

  it('retries TransientStoreError and then succeeds', async () => {
    let calls = 0;
    const { r } = runner({
      validate: async () => {
        calls += 1;
        if (calls < 3) throw new TransientStoreError('throttled');
        return { valid: true };
      },
      register: ok,
      record: ok,
    });
    const result = await r.run(input);
    expect(result.status).toBe('SUCCEEDED');
    expect(calls).toBe(3);
    expect(result.history.filter((e) => e.type === 'StateRetried')).toHaveLength(2);
  });

  it('fails over to RecordFailure with the Lambda-style error document as Cause', async () => {
    let recorded: unknown;
    const { r } = runner({
      validate: async () => {
        throw new TypeError('boom');
      },
      register: ok,
      record: async (event) => {
        recorded = event;
        return { recorded: false };
      },
    });
    const result = await r.run(input);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ReleaseFailed');
    const error = (recorded as { error: { Error: string; Cause: string } }).error;
    expect(error.Error).toBe('TypeError');
    expect(JSON.parse(error.Cause)).toMatchObject({ errorType: 'TypeError', errorMessage: 'boom' });
  });

  it('runs executions concurrently without mixing their inputs', async () => {
    const seen: string[] = [];
    const { r } = runner({
      validate: async (event) => {
        const key = (event as { key: string }).key;
        await new Promise((resolve) => setImmediate(resolve));
        seen.push(key);
        return key.includes('good') ? { valid: true } : { valid: false, reasons: ['bad bundle'] };
      },
      register: ok,
      record: ok,
    });
    const results = await Promise.all([
      r.run({ bucket: 'b', key: 'incoming/m/good/manifest.json' }),
      r.run({ bucket: 'b', key: 'incoming/m/bad/manifest.json' }),
    ]);
    expect(results.map((x) => x.status)).toEqual(['SUCCEEDED', 'FAILED']);
    expect(results[1]!.error).toBe('ArtifactRejected');
    expect(seen.sort()).toEqual(['incoming/m/bad/manifest.json', 'incoming/m/good/manifest.json']);
  });
});
