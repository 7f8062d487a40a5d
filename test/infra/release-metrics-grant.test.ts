/**
 * Who may read metrics: the error-budget gate (StartRollout) and the canary judge (AnalyzeCanary), with
 * cloudwatch:GetMetricData only; no other role reads CloudWatch. Synthesis itself runs cdk-nag, so the `Resource: *`
 * of GetMetricData (no resource-level permissions exist for it) must be acknowledged on both roles.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELEASE_WORKFLOW } from '../../lib/workflows/release';
import { boundVariableNames } from '../../lib/workflows/types';
import { asArray, identityStatements, synthApp, type SynthResult } from './helpers';

let synth: SynthResult;
beforeAll(() => {
  synth = synthApp();
});
afterAll(() => synth.cleanup());

const readsMetrics = () =>
  identityStatements(synth.template).filter(
    (s) =>
      s.statement.Effect === 'Allow' &&
      asArray(s.statement.Action).some((a) => a.startsWith('cloudwatch:Get') || a === 'cloudwatch:*'),
  );

describe('metric reads of the release functions', () => {
  it('grants GetMetricData to StartRollout and AnalyzeCanary only, as a statement of its own', () => {
    const statements = readsMetrics();
    expect(statements.map((s) => s.logicalId).sort()).toEqual([
      expect.stringMatching(/^ReleaseAnalyzeCanaryRolePolicy/),
      expect.stringMatching(/^ReleaseStartRolloutRolePolicy/),
    ]);
    for (const { statement } of statements) {
      expect(asArray(statement.Action)).toEqual(['cloudwatch:GetMetricData']);
      expect(statement.Resource).toBe('*');
      expect(statement.Condition).toBeUndefined();
    }
  });

  it('gives StartRollout no other CloudWatch action and its settings the metrics URL', () => {
    const start = identityStatements(synth.template).filter((s) =>
      s.logicalId.startsWith('ReleaseStartRolloutRolePolicy'),
    );
    const cloudwatch = start
      .flatMap((s) => asArray(s.statement.Action))
      .filter((a) => a.startsWith('cloudwatch:'));
    expect(cloudwatch).toEqual(['cloudwatch:GetMetricData']);
    const row = RELEASE_WORKFLOW.functions.find((r) => r.id === 'StartRollout')!;
    expect(boundVariableNames(row)).toContain('METRICS_READ_URL');
  });
});
