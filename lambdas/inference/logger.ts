/**
 * The inference function's Powertools Logger. Its own module, not lambdas/shared/powertools.ts: that one also
 * creates the Tracer (and with it loads the X-Ray SDK), which the inference path must not load (see
 * lambdas/adapters/clients.ts).
 */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'modelops' });
