/**
 * What the canary judge (AnalyzeCanary) may touch, now that it reads prediction bins: read-only access to the
 * versions' records, their registered manifests under models/ and the DriftCounters table, on top of the routing
 * record (read) and the audit ledger (append). Nothing it holds can write a table other than the ledger, or any object.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLE_ACCESS_ACTIONS } from '../../lib/constructs/modelops-function';
import { asArray, identityStatements, synthApp, type SynthResult } from './helpers';

let synth: SynthResult;
beforeAll(() => {
  synth = synthApp();
});
afterAll(() => synth.cleanup());

const statements = () =>
  identityStatements(synth.template)
    .filter((s) => s.logicalId.startsWith('ReleaseAnalyzeCanaryRolePolicy'))
    .map((s) => s.statement)
    .filter((s) => s.Effect === 'Allow');

/** The logical ids a statement's resources name (`Fn::GetAtt [id, 'Arn']`, possibly inside a `Fn::Join`). */
const resourceIds = (resource: unknown): string[] =>
  [...JSON.stringify(resource).matchAll(/"Fn::GetAtt":\["([A-Za-z0-9]+)"/g)].map((m) => m[1]!);

describe('AnalyzeCanary grants', () => {
  it('reads Deployments, ModelVersions and DriftCounters, appends to the AuditLog, and nothing more on DynamoDB', () => {
    const byTable = new Map<string, string[]>();
    for (const s of statements()) {
      const actions = asArray(s.Action).filter((a) => a.startsWith('dynamodb:'));
      if (actions.length === 0) continue;
      for (const id of resourceIds(s.Resource)) {
        const table = /^Tables([A-Za-z]+?)[0-9A-F]{8}$/.exec(id)?.[1] ?? id;
        byTable.set(table, [...new Set([...(byTable.get(table) ?? []), ...actions])].sort());
      }
    }
    const read = [...TABLE_ACCESS_ACTIONS.read].sort();
    expect(Object.fromEntries(byTable)).toEqual({
      Deployments: read,
      ModelVersions: read,
      DriftCounters: read,
      AuditLog: ['dynamodb:PutItem'],
    });
  });

  it('reads objects under models/ only (the registered manifests), and writes none', () => {
    const s3 = statements().filter((s) => asArray(s.Action).some((a) => a.startsWith('s3:')));
    expect(s3).toHaveLength(1);
    expect(asArray(s3[0]!.Action)).toEqual(['s3:GetObject']);
    expect(JSON.stringify(s3[0]!.Resource)).toMatch(/"\/models\/\*"\]\]\}$/);
  });
});
