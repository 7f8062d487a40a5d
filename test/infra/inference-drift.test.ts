/** InferenceEndpoint with drift counting: DriftCounters bound for UpdateItem only, DRIFT_FLUSH_SECONDS set. */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { DRIFT_COUNTERS_TABLE } from '../../lambdas/core/tables';
import { ArtifactRegistry } from '../../lib/constructs/artifact-registry';
import { InferenceEndpoint } from '../../lib/constructs/inference-endpoint';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { asArray, identityStatements, testStack } from './helpers';

function endpoint(driftOn: boolean): Template {
  // GIVEN
  const s = testStack('Drift');
  const registry = new ArtifactRegistry(s, 'Registry', {
    noncurrentVersionExpirationDays: 1,
    incomingExpirationDays: 1,
    accessLogDays: 1,
  });
  const tables = new MetadataTables(s, 'Tables');
  // WHEN
  new InferenceEndpoint(s, 'Endpoint', {
    modelName: 'breast-cancer',
    registry,
    deployments: tables.deployments,
    modelVersions: tables.modelVersions,
    metricsNamespace: 'ModelOps',
    logRetention: RetentionDays.ONE_DAY,
    ...(driftOn ? { driftCounters: tables.tables[DRIFT_COUNTERS_TABLE.id]!, driftFlushSeconds: 15 } : {}),
  });
  return Template.fromStack(s);
}

function actionsOnCounters(template: Template): unknown[] {
  const logicalId = Object.keys(template.findResources('AWS::DynamoDB::Table')).find((id) =>
    id.includes('DriftCounters'),
  )!;
  return identityStatements(template)
    .filter((x) => asArray(x.statement.Resource).some((r) => JSON.stringify(r).includes(logicalId)))
    .map((x) => x.statement.Action);
}

describe('InferenceEndpoint drift counting', () => {
  it('sets DRIFT_FLUSH_SECONDS and the table, and may only UpdateItem (atomic ADD) on DriftCounters', () => {
    const template = endpoint(true);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ DRIFT_COUNTERS_TABLE: Match.anyValue(), DRIFT_FLUSH_SECONDS: '15' }),
      },
    });
    expect(actionsOnCounters(template)).toEqual(['dynamodb:UpdateItem']);
  });

  it('binds nothing when drift is off', () => {
    const template = endpoint(false);
    expect(actionsOnCounters(template)).toEqual([]);
    const fns = Object.values(template.findResources('AWS::Lambda::Function'));
    for (const fn of fns) expect(JSON.stringify(fn)).not.toContain('DRIFT_FLUSH_SECONDS');
  });

  it('the stack turns counting on per model by drift.enabled', async () => {
    const { synthApp, TEST_CONFIG } = await import('./helpers');
    const r = synthApp({
      ...TEST_CONFIG,
      models: [
        { name: 'breast-cancer', owner: 'ml' },
        { name: 'credit-risk', owner: 'ml', drift: { enabled: false } },
      ],
    });
    try {
      const fns = Object.values(r.template.findResources('AWS::Lambda::Function')).map((f) =>
        JSON.stringify(f),
      );
      expect(
        fns.filter((f) => f.includes('"MODEL_NAME":"breast-cancer"') && f.includes('DRIFT_FLUSH_SECONDS')),
      ).toHaveLength(1);
      expect(
        fns.filter((f) => f.includes('"MODEL_NAME":"credit-risk"') && f.includes('DRIFT_FLUSH_SECONDS')),
      ).toHaveLength(0);
    } finally {
      r.cleanup();
    }
  });
});
