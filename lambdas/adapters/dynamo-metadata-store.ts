/**
 * `MetadataStore` on DynamoDB (lib-dynamodb). Every decision is one conditional write to one item; no
 * transactions, so it behaves the same on dynalite in local mode.
 */
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { DuplicateAuditEventError, TransientStoreError } from '../core/errors';
import { RoutingConflictError } from '../core/promotion';
import type { AuditEvent, DeploymentRecord, MetadataStore, VersionRecord } from '../core/ports';
import { env } from '../shared/env';
import { dynamoDocumentClient, mapStoreError } from './clients';

export interface MetadataTableNames {
  readonly modelVersions: string;
  readonly deployments: string;
  readonly auditLog: string;
}

function isConditionFailed(err: unknown): err is { Item?: Record<string, unknown> } {
  return (err as { name?: string })?.name === 'ConditionalCheckFailedException';
}

async function call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw mapStoreError(err, operation);
  }
}

export class DynamoMetadataStore implements MetadataStore {
  constructor(
    private readonly tables: MetadataTableNames,
    private readonly doc: DynamoDBDocumentClient = dynamoDocumentClient,
  ) {}

  /**
   * Table names from MODEL_VERSIONS_TABLE, DEPLOYMENTS_TABLE and AUDIT_LOG_TABLE, each read when first used: a
   * function is bound only to the tables it needs (least privilege), so the others' variables are absent there.
   */
  static fromEnv(): DynamoMetadataStore {
    return new DynamoMetadataStore({
      get modelVersions() {
        return env.modelVersionsTable();
      },
      get deployments() {
        return env.deploymentsTable();
      },
      get auditLog() {
        return env.auditLogTable();
      },
    });
  }

  async getVersion(model: string, version: string): Promise<VersionRecord | undefined> {
    const r = await call(`GetItem ${this.tables.modelVersions}`, () =>
      this.doc.send(
        new GetCommand({
          TableName: this.tables.modelVersions,
          Key: { model, version },
          ConsistentRead: true,
        }),
      ),
    );
    return r.Item as VersionRecord | undefined;
  }

  async listVersions(model?: string): Promise<readonly VersionRecord[]> {
    const items: VersionRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await call(`${model ? 'Query' : 'Scan'} ${this.tables.modelVersions}`, () =>
        this.doc.send(
          model
            ? new QueryCommand({
                TableName: this.tables.modelVersions,
                KeyConditionExpression: '#model = :model',
                ExpressionAttributeNames: { '#model': 'model' },
                ExpressionAttributeValues: { ':model': model },
                ExclusiveStartKey: start,
              })
            : new ScanCommand({ TableName: this.tables.modelVersions, ExclusiveStartKey: start }),
        ),
      );
      items.push(...((page.Items ?? []) as VersionRecord[]));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async putVersionUnlessRegistered(
    record: VersionRecord,
  ): Promise<{ readonly written: boolean; readonly current: VersionRecord }> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tables.modelVersions,
          Item: record,
          ConditionExpression: 'attribute_not_exists(#model) OR #status = :rejected',
          ExpressionAttributeNames: { '#model': 'model', '#status': 'status' },
          ExpressionAttributeValues: { ':rejected': 'REJECTED' },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { written: true, current: record };
    } catch (err) {
      if (!isConditionFailed(err)) throw mapStoreError(err, `PutItem ${this.tables.modelVersions}`);
      // DynamoDB returns the standing item with the failure; dynalite does not, so read it then.
      const current =
        (err.Item as VersionRecord | undefined) ?? (await this.getVersion(record.model, record.version));
      if (!current) {
        throw new TransientStoreError(
          `${record.model} ${record.version} changed during the conditional write`,
        );
      }
      return { written: false, current };
    }
  }

  async getDeployment(model: string): Promise<DeploymentRecord | undefined> {
    const r = await call(`GetItem ${this.tables.deployments}`, () =>
      this.doc.send(
        new GetCommand({ TableName: this.tables.deployments, Key: { model }, ConsistentRead: true }),
      ),
    );
    return r.Item as DeploymentRecord | undefined;
  }

  async putDeployment(
    record: DeploymentRecord,
    options: { readonly expectedRevision: number | undefined },
  ): Promise<void> {
    const { expectedRevision } = options;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tables.deployments,
          Item: record,
          ...(expectedRevision === undefined
            ? {
                ConditionExpression: 'attribute_not_exists(#model)',
                ExpressionAttributeNames: { '#model': 'model' },
              }
            : {
                ConditionExpression: '#revision = :expected',
                ExpressionAttributeNames: { '#revision': 'revision' },
                ExpressionAttributeValues: { ':expected': expectedRevision },
              }),
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) throw new RoutingConflictError(record.model, expectedRevision);
      throw mapStoreError(err, `PutItem ${this.tables.deployments}`);
    }
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tables.auditLog,
          Item: event,
          ConditionExpression: 'attribute_not_exists(eventId)',
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) {
        throw new DuplicateAuditEventError(`audit event ${event.model} ${event.eventId} already exists`);
      }
      throw mapStoreError(err, `PutItem ${this.tables.auditLog}`);
    }
  }

  /**
   * Events oldest first (newest last). With `since`: events with `eventId >= since`, the first `limit` of them
   * (page forward by passing the last id seen). Without `since`: the latest `limit` events.
   */
  async listAudit(
    model: string,
    options: { readonly limit?: number; readonly since?: string } = {},
  ): Promise<readonly AuditEvent[]> {
    const { limit, since } = options;
    const forward = since !== undefined || limit === undefined;
    const items: AuditEvent[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const remaining = limit === undefined ? undefined : limit - items.length;
      const page = await call(`Query ${this.tables.auditLog}`, () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tables.auditLog,
            KeyConditionExpression:
              since === undefined ? '#model = :model' : '#model = :model AND #id >= :since',
            ExpressionAttributeNames: {
              '#model': 'model',
              ...(since === undefined ? {} : { '#id': 'eventId' }),
            },
            ExpressionAttributeValues: {
              ':model': model,
              ...(since === undefined ? {} : { ':since': since }),
            },
            ScanIndexForward: forward,
            Limit: remaining,
            ExclusiveStartKey: start,
          }),
        ),
      );
      items.push(...((page.Items ?? []) as AuditEvent[]));
      start = page.LastEvaluatedKey;
    } while (start && (limit === undefined || items.length < limit));
    const bounded = limit === undefined ? items : items.slice(0, limit);
    return forward ? bounded : bounded.reverse();
  }
}
