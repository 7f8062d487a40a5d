/**
 * The CLI reads the ledger through the same `MetadataStore` adapter the handlers use, with its own client pointed
 * at the target (the adapter's module-scope default clients are never used here).
 */
import { createDocumentClient } from '../lambdas/adapters/clients';
import { DynamoMetadataStore } from '../lambdas/adapters/dynamo-metadata-store';
import type { MetadataStore } from '../lambdas/core/ports';
import { AUDIT_LOG_TABLE, DEPLOYMENTS_TABLE, MODEL_VERSIONS_TABLE } from '../lambdas/core/tables';
import { dynamoClient, type Target } from './target';

export function createMetadataStore(target: Target): MetadataStore {
  const doc = createDocumentClient(dynamoClient(target));
  return new DynamoMetadataStore(
    {
      modelVersions: target.tables[MODEL_VERSIONS_TABLE.envVar]!,
      deployments: target.tables[DEPLOYMENTS_TABLE.envVar]!,
      auditLog: target.tables[AUDIT_LOG_TABLE.envVar]!,
    },
    doc,
  );
}
