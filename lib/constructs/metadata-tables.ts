import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { Attribute, ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { WORKFLOW_TABLES, type WorkflowTable } from '../workflows/types';
import { ConstructPropsError } from './construct-props-error';
import {
  AUDIT_LOG_TABLE,
  DEPLOYMENTS_TABLE,
  MODEL_VERSIONS_TABLE,
  TABLE_DEFINITIONS,
} from '../../lambdas/core/tables';
import type { KeyAttribute, TableDefinition } from '../../lambdas/core/tables';

/** Raised when a table is used that `MetadataTables` did not create (its definition is unknown). */
export class UnknownTableError extends Error {
  override name = 'UnknownTableError';
}

const definitions = new WeakMap<ITable, TableDefinition>();

function attribute(key: KeyAttribute): Attribute {
  return { name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER };
}

export interface MetadataTablesProps {
  /**
   * Description of the KMS key encrypting the tables.
   * @default 'modelops metadata tables'
   */
  readonly keyDescription?: string;
}

/**
 * The metadata tables (ModelVersions, Deployments, AuditLog), built by iterating `TABLE_DEFINITIONS` from
 * `lambdas/core/tables.ts`, the same object local mode builds its tables from. On-demand billing, point-in-time
 * recovery, one customer-managed KMS key (rotation on), deletion protection and RETAIN: the tables are the ledger of
 * record and must survive a stack deletion.
 */
export class MetadataTables extends Construct {
  /** The `TableDefinition` a table was built from; throws for tables this construct did not create. */
  static definitionOf(table: ITable): TableDefinition {
    const definition = definitions.get(table);
    if (!definition) {
      throw new UnknownTableError(
        `${table.node.path} was not created by MetadataTables, so its environment variable is unknown`,
      );
    }
    return definition;
  }

  public readonly key: Key;
  public readonly modelVersions: Table;
  public readonly deployments: Table;
  public readonly auditLog: Table;
  /** Every table by its definition id (`ModelVersions`, `Deployments`, `AuditLog`). */
  public readonly tables: Readonly<Record<string, Table>>;

  constructor(scope: Construct, id: string, props: MetadataTablesProps = {}) {
    super(scope, id);
    this.key = new Key(this, 'Key', {
      description: props.keyDescription ?? 'modelops metadata tables',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const tables: Record<string, Table> = {};
    for (const definition of TABLE_DEFINITIONS) {
      const table = new Table(this, definition.id, {
        partitionKey: attribute(definition.partitionKey),
        sortKey: definition.sortKey ? attribute(definition.sortKey) : undefined,
        billingMode: BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: TableEncryption.CUSTOMER_MANAGED,
        encryptionKey: this.key,
        deletionProtection: true,
        removalPolicy: RemovalPolicy.RETAIN,
        ...(definition.timeToLiveAttribute !== undefined
          ? { timeToLiveAttribute: definition.timeToLiveAttribute }
          : {}),
      });
      for (const index of definition.globalSecondaryIndexes) {
        table.addGlobalSecondaryIndex({
          indexName: index.indexName,
          partitionKey: attribute(index.partitionKey),
          sortKey: index.sortKey ? attribute(index.sortKey) : undefined,
          projectionType: ProjectionType.ALL,
        });
      }
      Validations.of(table).acknowledge({
        id: 'NIST.800.53.R5::NIST.800.53.R5-DynamoDBInBackupPlan',
        reason:
          'Point-in-time recovery (35 days, continuous) is on, deletion protection is on and the table is retained ' +
          'on stack deletion; an AWS Backup plan (vault, schedule, cross-account copy) is an organization-level ' +
          'choice left to the deployer.',
      });
      definitions.set(table, definition);
      tables[definition.id] = table;
    }
    this.tables = tables;
    this.modelVersions = this.tableFor(MODEL_VERSIONS_TABLE);
    this.deployments = this.tableFor(DEPLOYMENTS_TABLE);
    this.auditLog = this.tableFor(AUDIT_LOG_TABLE);
  }

  private tableFor(definition: TableDefinition): Table {
    const table = this.tables[definition.id];
    if (!table) throw new UnknownTableError(`TABLE_DEFINITIONS has no table with id "${definition.id}"`);
    return table;
  }

  /**
   * The table a workflow wiring row binds as `table` (lib/workflows/types.ts WORKFLOW_TABLES), by definition id: not
   * every such table has a field of its own here (DriftCounters). `boundBy` names the caller for the error.
   */
  workflowTable(table: WorkflowTable, boundBy: string): Table {
    const found = this.tables[WORKFLOW_TABLES[table].id];
    if (found === undefined) {
      throw new ConstructPropsError(
        `${boundBy}: props.tables has no ${WORKFLOW_TABLES[table].id} table (bound as "${table}" by a wiring row); ` +
          'pass the MetadataTables construct',
      );
    }
    return found;
  }
}
