/**
 * `ApprovalStore` on the ModelVersions table: the request is the `approvalRequest` attribute of the version's item,
 * changed in place by one conditional UpdateItem, so a version's registration fields are never rewritten and a
 * request cannot exist for a version that does not.
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ApprovalConflictError, type ApprovalRequest, type ApprovalStore } from '../core/ports';
import { env } from '../shared/env';
import { dynamoDocumentClient, mapStoreError } from './clients';
import { isConditionFailed, storeCall } from './dynamo-helpers';

export const APPROVAL_ATTRIBUTE = 'approvalRequest';

export class DynamoApprovalStore implements ApprovalStore {
  constructor(
    private readonly tableName: string,
    private readonly doc: DynamoDBDocumentClient = dynamoDocumentClient,
  ) {}

  /** The table named by MODEL_VERSIONS_TABLE; throws ConfigurationError naming the variable when it is unset. */
  static fromEnv(e?: NodeJS.ProcessEnv): DynamoApprovalStore {
    return new DynamoApprovalStore(env.modelVersionsTable(e));
  }

  async getApproval(model: string, version: string): Promise<ApprovalRequest | undefined> {
    const r = await storeCall(`GetItem ${this.tableName}`, () =>
      this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { model, version },
          ConsistentRead: true,
          ProjectionExpression: '#approval',
          ExpressionAttributeNames: { '#approval': APPROVAL_ATTRIBUTE },
        }),
      ),
    );
    return r.Item?.[APPROVAL_ATTRIBUTE] as ApprovalRequest | undefined;
  }

  async putApproval(
    model: string,
    version: string,
    request: ApprovalRequest,
    options: { readonly expectedRevision: number | undefined },
  ): Promise<void> {
    const { expectedRevision } = options;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { model, version },
          UpdateExpression: 'SET #approval = :request',
          ConditionExpression:
            expectedRevision === undefined
              ? 'attribute_exists(#model) AND attribute_not_exists(#approval)'
              : 'attribute_exists(#model) AND #approval.#revision = :expected',
          ExpressionAttributeNames: {
            '#model': 'model',
            '#approval': APPROVAL_ATTRIBUTE,
            ...(expectedRevision === undefined ? {} : { '#revision': 'revision' }),
          },
          ExpressionAttributeValues: {
            ':request': request,
            ...(expectedRevision === undefined ? {} : { ':expected': expectedRevision }),
          },
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) throw new ApprovalConflictError(model, version);
      throw mapStoreError(err, `UpdateItem ${this.tableName}`);
    }
  }
}
