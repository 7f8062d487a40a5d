import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { RELEASE_ASL_PATH } from '../../lib/constructs/release-pipeline';
import { RELEASE_WORKFLOW } from '../../lib/workflows/release';
import { functionArnPlaceholder } from '../../lib/workflows/types';

type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };
// asl-validator ships no type declarations.
const aslValidator = createRequire(__filename)('asl-validator') as AslValidator;

// What CloudFormation substitutes: one function ARN per row of the wiring table.
const PLACEHOLDER_ARNS: Record<string, string> = Object.fromEntries(
  RELEASE_WORKFLOW.functions.map((fn) => [
    functionArnPlaceholder(fn),
    `arn:aws:lambda:eu-west-1:123456789012:function:${fn.handler}`,
  ]),
);

const raw = fs.readFileSync(RELEASE_ASL_PATH, 'utf8');
const substituted = raw.replace(/\$\{(\w+)\}/g, (_m, name: string) => {
  const arn = PLACEHOLDER_ARNS[name];
  if (!arn) throw new Error(`no placeholder ARN for \${${name}}`);
  return arn;
});
const definition = JSON.parse(substituted) as Record<string, unknown>;

function walk(value: unknown, visit: (key: string, v: unknown) => void): void {
  if (Array.isArray(value)) value.forEach((v) => walk(v, visit));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      visit(k, v);
      walk(v, visit);
    }
  }
}

describe('release.asl.json', () => {
  it('passes asl-validator once substituted', () => {
    const result = aslValidator(definition, { checkPaths: true, checkArn: true });
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('fails asl-validator when a transition target is missing (the check can fail)', () => {
    const broken = JSON.parse(substituted) as { States: Record<string, unknown> };
    delete broken.States.Rejected;
    expect(aslValidator(broken).isValid).toBe(false);
  });

  it('uses JSONPath only: no JSONata, Assign, Arguments or Output', () => {
    expect(definition.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
    const forbidden: string[] = [];
    walk(definition, (key, v) => {
      if (['Assign', 'Arguments', 'Output'].includes(key)) forbidden.push(key);
      if (key === 'QueryLanguage' && v !== 'JSONPath') forbidden.push(`QueryLanguage=${String(v)}`);
      if (typeof v === 'string' && /^\{%.*%\}$/s.test(v.trim())) forbidden.push(`JSONata in ${key}`);
    });
    expect(forbidden).toEqual([]);
  });

  it('has a TimeoutSeconds and explicit Retry and Catch on every Task', () => {
    expect(definition.TimeoutSeconds).toEqual(expect.any(Number));
    const states = definition.States as Record<
      string,
      { Type: string; Retry?: unknown[]; Catch?: unknown[] }
    >;
    const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');
    expect(tasks.length).toBeGreaterThanOrEqual(3);
    for (const [name, task] of tasks) {
      expect(task.Retry?.length, name).toBeGreaterThan(0);
      expect(task.Catch?.length, name).toBeGreaterThan(0);
    }
  });
});
