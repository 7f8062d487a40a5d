import { afterEach, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../lambdas/core/errors';
import { env, requireEnv, TaskEnvironment, withTaskEnvironment } from '../../lambdas/shared/env';

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

afterEach(() => {
  delete process.env.AUDIT_LOG_TABLE;
});

describe('TaskEnvironment scope of the env helpers', () => {
  it('reads process.env when no Task scope is open (Lambda)', () => {
    process.env.AUDIT_LOG_TABLE = 'from-process';
    expect(env.auditLogTable()).toBe('from-process');
  });

  it('fails inside a scope that does not bind the variable, even when process.env has it', () => {
    process.env.AUDIT_LOG_TABLE = 'from-process';
    const scope = new TaskEnvironment({ REGISTRY_BUCKET: 'bucket' });
    expect(() => withTaskEnvironment(scope, () => env.auditLogTable())).toThrow(
      new ConfigurationError(
        'environment variable AUDIT_LOG_TABLE is not set; the stack (or local mode) must set it on this function',
      ),
    );
    expect([...scope.reads()]).toEqual(['AUDIT_LOG_TABLE']);
  });

  it('keeps concurrent invocations apart across awaits', async () => {
    const a = new TaskEnvironment({ REGISTRY_BUCKET: 'a' });
    const b = new TaskEnvironment({ REGISTRY_BUCKET: 'b' });
    const read = async () => {
      await tick();
      const first = requireEnv('REGISTRY_BUCKET');
      await tick();
      return [first, requireEnv('REGISTRY_BUCKET')];
    };
    const results = await Promise.all([withTaskEnvironment(a, read), withTaskEnvironment(b, read)]);
    expect(results).toEqual([
      ['a', 'a'],
      ['b', 'b'],
    ]);
  });

  it('cannot be written to by a handler', () => {
    const scope = new TaskEnvironment({ REGISTRY_BUCKET: 'a' });
    expect(() => {
      scope.env.REGISTRY_BUCKET = 'other';
    }).toThrow(TypeError);
    expect(scope.variables).toEqual({ REGISTRY_BUCKET: 'a' });
  });
});
