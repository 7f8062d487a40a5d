/** InferenceEndpoint with feedback: the PredictionLog table bound read/write (GetItem + PutItem) and FEEDBACK_* set. */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { ArtifactRegistry } from '../../lib/constructs/artifact-registry';
import { InferenceEndpoint } from '../../lib/constructs/inference-endpoint';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { PREDICTION_LOG_TABLE } from '../../lambdas/core/tables';
import { asArray, identityStatements, testStack } from './helpers';

function endpoint(feedbackOn: boolean): Template {
  // GIVEN
  const s = testStack('Feedback');
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
    ...(feedbackOn
      ? { predictionLog: tables.tables[PREDICTION_LOG_TABLE.id]!, feedback: { sampleRate: 0.2, ttlDays: 7 } }
      : {}),
  });
  return Template.fromStack(s);
}

describe('InferenceEndpoint feedback', () => {
  it('sets the table and FEEDBACK_* variables and grants GetItem and PutItem on the PredictionLog table only', () => {
    const template = endpoint(true);
    // THEN
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          PREDICTION_LOG_TABLE: Match.anyValue(),
          FEEDBACK_SAMPLE_RATE: '0.2',
          FEEDBACK_TTL_DAYS: '7',
        }),
      },
    });
    const logicalId = Object.keys(template.findResources('AWS::DynamoDB::Table')).find((id) =>
      id.includes('PredictionLog'),
    )!;
    const onTable = identityStatements(template).filter((x) =>
      asArray(x.statement.Resource).some((r) => JSON.stringify(r).includes(logicalId)),
    );
    expect(onTable.map((x) => x.statement.Action)).toEqual([['dynamodb:GetItem', 'dynamodb:PutItem']]);
  });

  it('binds nothing for feedback without the table', () => {
    const template = endpoint(false);
    const fns = Object.values(template.findResources('AWS::Lambda::Function'));
    for (const fn of fns) {
      const vars = (fn as { Properties: { Environment?: { Variables?: Record<string, unknown> } } })
        .Properties.Environment?.Variables;
      expect(vars?.PREDICTION_LOG_TABLE).toBeUndefined();
      expect(vars?.FEEDBACK_SAMPLE_RATE).toBeUndefined();
    }
  });
});
