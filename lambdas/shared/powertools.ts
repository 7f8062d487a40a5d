/**
 * Powertools configured once for every release function. Outside Lambda (local mode, tests) the Tracer disables
 * itself; set POWERTOOLS_METRICS_DISABLED=true there to keep EMF lines out of the console.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'modelops';

export const logger = new Logger({ serviceName });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'ModelOps',
  serviceName,
});
export const tracer = new Tracer({ serviceName });

export { MetricUnit } from '@aws-lambda-powertools/metrics';
