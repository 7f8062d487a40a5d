/**
 * The CLI reads the ledger through the same per-table adapters the handlers use, with its own client pointed at the
 * target (the adapters' module-scope default clients are never used here).
 */
import { createDocumentClient } from '../lambdas/adapters/clients';
import { DynamoAuditLog } from '../lambdas/adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../lambdas/adapters/dynamo-deployment-store';
import { DynamoMonitorStateStore } from '../lambdas/adapters/dynamo-monitor-state';
import { DynamoVersionStageStore } from '../lambdas/adapters/dynamo-version-stage-store';
import { DynamoVersionStore } from '../lambdas/adapters/dynamo-version-store';
import type {
  AuditLogStore,
  DeploymentStore,
  MonitorStateStore,
  VersionStageStore,
  VersionStore,
} from '../lambdas/core/ports';
import {
  AUDIT_LOG_TABLE,
  DEPLOYMENTS_TABLE,
  MODEL_VERSIONS_TABLE,
  MONITOR_STATE_TABLE,
} from '../lambdas/core/tables';
import { dynamoClient, type Target } from './target';

/** The metadata tables' stores, by table; each command takes only the ones it uses. */
export interface LedgerStores {
  readonly versions: VersionStore;
  readonly deployments: DeploymentStore;
  readonly audit: AuditLogStore;
  /** The version stages on the ModelVersions table: `promote` and `rollback` label them after the routing write. */
  readonly stages: VersionStageStore;
  /** The MonitorState table (read only here); undefined when the target names none (a stack without the output). */
  readonly monitorState: MonitorStateStore | undefined;
}

export function createLedgerStores(target: Target): LedgerStores {
  const doc = createDocumentClient(dynamoClient(target));
  const monitorState = target.tables[MONITOR_STATE_TABLE.envVar];
  return {
    versions: new DynamoVersionStore(target.tables[MODEL_VERSIONS_TABLE.envVar]!, doc),
    deployments: new DynamoDeploymentStore(target.tables[DEPLOYMENTS_TABLE.envVar]!, doc),
    audit: new DynamoAuditLog(target.tables[AUDIT_LOG_TABLE.envVar]!, doc),
    stages: new DynamoVersionStageStore(target.tables[MODEL_VERSIONS_TABLE.envVar]!, doc),
    monitorState: monitorState === undefined ? undefined : new DynamoMonitorStateStore(monitorState, doc),
  };
}
