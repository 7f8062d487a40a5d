/**
 * `DeploymentStore` on the Deployments table (lib-dynamodb): one routing record per model, changed only by a
 * conditional write on its revision (DESIGN.md decision 1). The inference path uses it as its `RoutingSource`.
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { RoutingConflictError } from '../core/promotion';
import type { DeploymentRecord, DeploymentStore } from '../core/ports';
import { env } from '../shared/env';
import { dynamoDocumentClient, mapStoreError } from './clients';
import { isConditionFailed, revisionCondition, storeCall } from './dynamo-helpers';

export class DynamoDeploymentStore implements DeploymentStore {
  constructor(
    private readonly tableName: string,
    private readonly doc: DynamoDBDocumentClient = dynamoDocumentClient,
  ) {}

  /** The table named by DEPLOYMENTS_TABLE; throws ConfigurationError naming the variable when it is unset. */
  static fromEnv(e?: NodeJS.ProcessEnv): DynamoDeploymentStore {
    return new DynamoDeploymentStore(env.deploymentsTable(e));
  }

  async getDeployment(model: string): Promise<DeploymentRecord | undefined> {
    const r = await storeCall(`GetItem ${this.tableName}`, () =>
      this.doc.send(new GetCommand({ TableName: this.tableName, Key: { model }, ConsistentRead: true })),
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
          TableName: this.tableName,
          Item: record,
          ...revisionCondition(expectedRevision),
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) throw new RoutingConflictError(record.model, expectedRevision);
      throw mapStoreError(err, `PutItem ${this.tableName}`);
    }
  }
}
