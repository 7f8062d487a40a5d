/**
 * The one way handlers read their environment: fail fast, naming the variable and what it should hold.
 */
import { ConfigurationError } from '../core/errors';
import {
  AUDIT_LOG_TABLE,
  DEPLOYMENTS_TABLE,
  MAX_ARTIFACT_BYTES_ENV,
  MODEL_VERSIONS_TABLE,
  REGISTRY_BUCKET_ENV,
} from '../core/tables';

/** Comma-separated model names from modelops.config.ts; unset or empty accepts every model. */
export const CONFIGURED_MODELS_ENV = 'CONFIGURED_MODELS';

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name]?.trim();
  if (!value) {
    throw new ConfigurationError(
      `environment variable ${name} is not set; the stack (or local mode) must set it on this function`,
    );
  }
  return value;
}

export function positiveIntegerEnv(name: string, env: NodeJS.ProcessEnv = process.env): number {
  const raw = requireEnv(name, env);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(
      `environment variable ${name} must be a positive whole number, got "${raw}"`,
    );
  }
  return value;
}

export function listEnv(name: string, env: NodeJS.ProcessEnv = process.env): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export const env = {
  registryBucket: (e?: NodeJS.ProcessEnv) => requireEnv(REGISTRY_BUCKET_ENV, e),
  maxArtifactBytes: (e?: NodeJS.ProcessEnv) => positiveIntegerEnv(MAX_ARTIFACT_BYTES_ENV, e),
  modelVersionsTable: (e?: NodeJS.ProcessEnv) => requireEnv(MODEL_VERSIONS_TABLE.envVar, e),
  deploymentsTable: (e?: NodeJS.ProcessEnv) => requireEnv(DEPLOYMENTS_TABLE.envVar, e),
  auditLogTable: (e?: NodeJS.ProcessEnv) => requireEnv(AUDIT_LOG_TABLE.envVar, e),
  configuredModels: (e?: NodeJS.ProcessEnv) => listEnv(CONFIGURED_MODELS_ENV, e),
};
