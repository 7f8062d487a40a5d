/**
 * `VersionStageStore` on the ModelVersions table: the stage is the `stage` attribute of the version's item, changed in
 * place by one conditional UpdateItem (as `approvalRequest` is), so a version's registration fields are never
 * rewritten, a stage cannot exist for a version that does not, and a label for an older routing revision never
 * replaces one for a newer revision.
 */
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { VersionStage, VersionStageStore } from '../core/ports';
import { env } from '../shared/env';
import { dynamoDocumentClient, mapStoreError } from './clients';
import { isConditionFailed } from './dynamo-helpers';

export const STAGE_ATTRIBUTE = 'stage';

export class DynamoVersionStageStore implements VersionStageStore {
  constructor(
    private readonly tableName: string,
    private readonly doc: DynamoDBDocumentClient = dynamoDocumentClient,
  ) {}

  /** The table named by MODEL_VERSIONS_TABLE; throws ConfigurationError naming the variable when it is unset. */
  static fromEnv(e?: NodeJS.ProcessEnv): DynamoVersionStageStore {
    return new DynamoVersionStageStore(env.modelVersionsTable(e));
  }

  async putStage(model: string, version: string, stage: VersionStage): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { model, version },
          UpdateExpression: 'SET #stage = :stage',
          ConditionExpression:
            'attribute_exists(#model) AND (attribute_not_exists(#stage) OR #stage.#revision < :revision)',
          ExpressionAttributeNames: {
            '#model': 'model',
            '#stage': STAGE_ATTRIBUTE,
            '#revision': 'routingRevision',
          },
          ExpressionAttributeValues: { ':stage': stage, ':revision': stage.routingRevision },
        }),
      );
      return true;
    } catch (err) {
      // A newer (or the same) label stands, or the version does not exist: nothing to write.
      if (isConditionFailed(err)) return false;
      throw mapStoreError(err, `UpdateItem ${this.tableName}`);
    }
  }
}
