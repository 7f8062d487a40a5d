import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { TABLE_DEFINITIONS } from '../../lambdas/core/tables';
import type { KeyAttribute, TableDefinition } from '../../lambdas/core/tables';

const stack = new Stack(new App(), 'TablesTest');
const tables = new MetadataTables(stack, 'Tables');
const template = Template.fromStack(stack);
const keyId = stack.getLogicalId(tables.key.node.defaultChild as never);

function keySchema(pk: KeyAttribute, sk?: KeyAttribute): unknown[] {
  return [
    { AttributeName: pk.name, KeyType: 'HASH' },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' }] : []),
  ];
}

function tableResource(definition: TableDefinition): {
  Properties: Record<string, unknown>;
  DeletionPolicy?: string;
} {
  const table = tables.tables[definition.id];
  if (!table) throw new Error(`no table ${definition.id}`);
  return template.toJSON().Resources[stack.getLogicalId(table.node.defaultChild as never)];
}

describe('MetadataTables', () => {
  it('creates exactly the tables of TABLE_DEFINITIONS', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', TABLE_DEFINITIONS.length);
    expect(Object.keys(tables.tables).sort()).toEqual(TABLE_DEFINITIONS.map((d) => d.id).sort());
    expect(tables.modelVersions).toBe(tables.tables.ModelVersions);
    expect(tables.auditLog).toBe(tables.tables.AuditLog);
  });

  it.each(TABLE_DEFINITIONS.map((d) => [d.id, d] as const))(
    '%s has the key schema and GSIs of tables.ts',
    (_id, d) => {
      const props = tableResource(d).Properties;
      expect(props.KeySchema).toEqual(keySchema(d.partitionKey, d.sortKey));
      const gsis = (props.GlobalSecondaryIndexes ?? []) as { IndexName: string; KeySchema: unknown }[];
      expect(gsis.map((g) => [g.IndexName, g.KeySchema])).toEqual(
        d.globalSecondaryIndexes.map((i) => [i.indexName, keySchema(i.partitionKey, i.sortKey)]),
      );
    },
  );

  it.each(TABLE_DEFINITIONS.map((d) => [d.id, d] as const))(
    '%s is on-demand, PITR, KMS, protected, retained',
    (_id, d) => {
      const resource = tableResource(d);
      expect(resource).toMatchObject({
        DeletionPolicy: 'Retain',
        Properties: {
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: {
            SSEEnabled: true,
            SSEType: 'KMS',
            KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
          },
          DeletionProtectionEnabled: true,
        },
      });
    },
  );

  it('has ByStatus on ModelVersions (status, updatedAt)', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'ByStatus',
          KeySchema: [
            { AttributeName: 'status', KeyType: 'HASH' },
            { AttributeName: 'updatedAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        }),
      ],
    });
  });

  it('uses one rotating, retained key for all tables', () => {
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: { EnableKeyRotation: true },
    });
  });

  it('fails to look up the definition of a table it did not create', () => {
    const other = new Stack(new App(), 'Other');
    const foreign = new MetadataTables(other, 'Tables');
    expect(MetadataTables.definitionOf(foreign.auditLog).envVar).toBe('AUDIT_LOG_TABLE');
    expect(() => MetadataTables.definitionOf(tables.key as never)).toThrow(
      /was not created by MetadataTables/,
    );
  });
});
