/**
 * The CLI reads the ledger through the same per-table adapters the handlers use, with its own client pointed at the
 * target (the adapters' module-scope default clients are never used here).
 */
import { createDocumentClient } from '../lambdas/adapters/clients';
import { DynamoAuditLog } from '../lambdas/adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../lambdas/adapters/dynamo-deployment-store';
import { DynamoVersionStore } from '../lambdas/adapters/dynamo-version-store';
import type { AuditLogStore, DeploymentStore, VersionStore } from '../lambdas/core/ports';
import { AUDIT_LOG_TABLE, DEPLOYMENTS_TABLE, MODEL_VERSIONS_TABLE } from '../lambdas/core/tables';
import { dynamoClient, type Target } from './target';

/** The metadata tables' stores, by table; each command takes only the ones it uses. */
export interface LedgerStores {
  readonly versions: VersionStore;
  readonly deployments: DeploymentStore;
  readonly audit: AuditLogStore;
}

export function createLedgerStores(target: Target): LedgerStores {
  const doc = createDocumentClient(dynamoClient(target));
  return {
    versions: new DynamoVersionStore(target.tables[MODEL_VERSIONS_TABLE.envVar]!, doc),
    deployments: new DynamoDeploymentStore(target.tables[DEPLOYMENTS_TABLE.envVar]!, doc),
    audit: new DynamoAuditLog(target.tables[AUDIT_LOG_TABLE.envVar]!, doc),
  };
}
