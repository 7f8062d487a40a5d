/**
 * The local runtime: the real release state machine bound to the real handlers, configured through the same
 * environment variables the stack sets on the Lambda functions, pointed at the emulators.
 *
 * Handlers read their environment when their module loads (SDK clients at module scope), so the environment is set
 * here BEFORE any handler module is imported, and handlers are imported lazily by the runner.
 */
import path from 'node:path';
import {
  AUDIT_LOG_TABLE,
  DEPLOYMENTS_TABLE,
  MAX_ARTIFACT_BYTES_ENV,
  MODEL_VERSIONS_TABLE,
  REGISTRY_BUCKET_ENV,
} from '../lambdas/core/tables';
import { CONFIGURED_MODELS_ENV } from '../lambdas/shared/env';
import { parseConfig, type ModelOpsConfig } from '../lib/config';
import {
  AslRunner,
  loadDefinition,
  localFunctionArn,
  STEPFUNCTIONS_DIR,
  type ExecutionResult,
  type LambdaHandler,
  type LocalFunction,
} from './asl-runner';
import { LOCAL_CREDENTIALS, type Emulators } from './emulators';
import type { LocalLogger } from './logger';

export const RELEASE_STATE_MACHINE = 'release';

/**
 * Task state `Resource` placeholders of release.asl.json → the handler module and local function name behind them.
 * The same map CDK's `definitionSubstitutions` expresses with real function ARNs.
 */
export const RELEASE_FUNCTIONS = {
  ValidateArtifactFunctionArn: {
    name: 'modelops-local-validate-artifact',
    module: 'lambdas/validate-artifact/handler.ts',
    timeoutSeconds: 900,
    // Literal specifiers: resolved relative to this file by tsx and vitest alike, on any OS.
    import: () => import('../lambdas/validate-artifact/handler'),
  },
  RegisterVersionFunctionArn: {
    name: 'modelops-local-register-version',
    module: 'lambdas/register-version/handler.ts',
    timeoutSeconds: 300,
    import: () => import('../lambdas/register-version/handler'),
  },
  RecordRejectionFunctionArn: {
    name: 'modelops-local-record-rejection',
    module: 'lambdas/record-rejection/handler.ts',
    timeoutSeconds: 60,
    import: () => import('../lambdas/record-rejection/handler'),
  },
} as const;

/** Loads and validates `modelops.config.ts` from the project root. */
export async function loadProjectConfig(): Promise<ModelOpsConfig> {
  const mod = (await import('../modelops.config')) as { default: unknown };
  return parseConfig(mod.default);
}

/** The environment the stack gives the release functions, with local endpoints and dummy credentials. */
export function handlerEnvironment(emulators: Emulators, config: ModelOpsConfig): Record<string, string> {
  return {
    AWS_REGION: emulators.region,
    AWS_DEFAULT_REGION: emulators.region,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_S3: emulators.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamodbEndpoint,
    // s3rver serves path-style only for a bucket on 127.0.0.1; the SDK picks path style for IP endpoints itself.
    [REGISTRY_BUCKET_ENV]: emulators.bucket,
    [MODEL_VERSIONS_TABLE.envVar]: emulators.tables[MODEL_VERSIONS_TABLE.envVar]!,
    [DEPLOYMENTS_TABLE.envVar]: emulators.tables[DEPLOYMENTS_TABLE.envVar]!,
    [AUDIT_LOG_TABLE.envVar]: emulators.tables[AUDIT_LOG_TABLE.envVar]!,
    [MAX_ARTIFACT_BYTES_ENV]: String(config.registry.maxArtifactBytes),
    [CONFIGURED_MODELS_ENV]: config.models.map((m) => m.name).join(','),
    POWERTOOLS_SERVICE_NAME: 'modelops-local',
    POWERTOOLS_METRICS_NAMESPACE: 'ModelOpsLocal',
    // No CloudWatch locally: keep Powertools from printing EMF blobs and tracing from looking for a daemon.
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
  };
}

export interface LocalRuntimeOptions {
  readonly emulators: Emulators;
  /** Validated config. @default modelops.config.ts */
  readonly config?: ModelOpsConfig;
  readonly logger: LocalLogger;
  /** Tests only: replaces every Retry pause (ms). @default the ASL's intervals */
  readonly retryIntervalMs?: number;
}

export interface LocalRuntime {
  readonly config: ModelOpsConfig;
  readonly environment: Readonly<Record<string, string>>;
  readonly release: AslRunner;
  /** Starts a release execution for `incoming/<model>/<version>/manifest.json` and waits for its end. */
  startRelease(input: { bucket: string; key: string }, name?: string): Promise<ExecutionResult>;
}

/**
 * Prepares process.env and the release state machine. Only one runtime per process can own process.env; tests get
 * one per test file (vitest runs each file in its own process).
 */
export async function createLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const config = options.config ?? (await loadProjectConfig());
  const environment = handlerEnvironment(options.emulators, config);
  Object.assign(process.env, environment);

  const substitutions: Record<string, string> = {};
  const functions = new Map<string, LocalFunction>();
  for (const [placeholder, fn] of Object.entries(RELEASE_FUNCTIONS)) {
    const arn = localFunctionArn(fn.name);
    substitutions[placeholder] = arn;
    functions.set(arn, {
      name: fn.name,
      timeoutSeconds: fn.timeoutSeconds,
      load: async () => {
        const mod = (await fn.import()) as { handler?: unknown };
        if (typeof mod.handler !== 'function') {
          throw new TypeError(`${fn.module} does not export a function named "handler"`);
        }
        return mod.handler as LambdaHandler;
      },
    });
  }
  const definition = loadDefinition(path.join(STEPFUNCTIONS_DIR, 'release.asl.json'), substitutions);
  const release = new AslRunner({
    definition,
    stateMachineName: RELEASE_STATE_MACHINE,
    functions,
    logger: options.logger,
    ...(options.retryIntervalMs !== undefined ? { retryIntervalMs: options.retryIntervalMs } : {}),
  });
  return {
    config,
    environment,
    release,
    startRelease: (input, name) => release.run(input, name !== undefined ? { name } : {}),
  };
}
