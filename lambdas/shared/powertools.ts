/**
 * Powertools configured once for every release function. Set POWERTOOLS_METRICS_DISABLED=true outside Lambda (local
 * mode, tests) to keep EMF lines out of the console.
 *
 * Importing this module is what turns on X-Ray subsegments for the shared SDK clients (lambdas/adapters/clients.ts):
 * the release functions import it for their logger and metrics. The inference function does not import it (it uses
 * lambdas/inference/logger.ts), so it never loads the X-Ray SDK; see clients.ts for why.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type * as TracerModule from '@aws-lambda-powertools/tracer';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { traceSdkClients } from '../adapters/clients';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'modelops';

export const logger = new Logger({ serviceName });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'ModelOps',
  serviceName,
});

/**
 * The Tracer, only where it can trace: in a Lambda execution environment (AWS_EXECUTION_ENV) with tracing not
 * switched off. Elsewhere (local mode, tests) Powertools would disable it anyway, but loading it would still load
 * the X-Ray SDK, whose async hooks tax every promise of the process, local mode's inference server included.
 */
function createTracer(env: NodeJS.ProcessEnv = process.env): Tracer | undefined {
  if (!env.AWS_EXECUTION_ENV || env.POWERTOOLS_TRACE_ENABLED?.toLowerCase() === 'false') return undefined;
  // A require, not an import, so that nothing loads the module when it is not needed.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tracing = require('@aws-lambda-powertools/tracer') as typeof TracerModule;
  return new tracing.Tracer({ serviceName });
}

export const tracer: Tracer | undefined = createTracer();
if (tracer !== undefined) traceSdkClients(tracer);

export { MetricUnit } from '@aws-lambda-powertools/metrics';
