/**
 * RecordRejected, RecordReleased and RecordFailure (retrain state machine): ends the model's running retrain in its
 * retrain state and audits how it ended. `result` says which state called it.
 */
import { z } from 'zod';
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../adapters/dynamo-deployment-store';
import { DynamoMonitorStateStore } from '../adapters/dynamo-monitor-state';
import { PowertoolsMetricsSink } from '../adapters/powertools-metrics-sink';
import { ConfigurationError } from '../core/errors';
import { METRIC_DIMENSIONS, RETRAIN_METRICS } from '../core/ports';
import { failureCauseExcerpt, recordRetrainOutcome, type OutcomeInput } from '../core/retrain-outcome';
import { parseRetrainPolicies, RETRAIN_POLICIES_ENV } from '../core/retrain-policy';
import { currentEnvironment, env } from '../shared/env';
import { logger } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

const name = z.string().min(1);
const eventSchema = z.discriminatedUnion('result', [
  z.object({
    result: z.literal('rejected'),
    model: name,
    runId: name,
    version: name,
    executionId: name,
    gate: z.unknown(),
  }),
  z.object({
    result: z.literal('released'),
    model: name,
    runId: name,
    version: name,
    executionId: name,
    releaseExecution: z.string(),
  }),
  z.object({
    result: z.literal('failed'),
    executionId: name,
    step: name,
    error: z.object({ Error: z.string(), Cause: z.string().optional() }),
    // The whole state: the start input's model, the Guard's and Package's results when they ran.
    input: z.object({
      model: z.unknown(),
      guard: z.object({ runId: z.string().optional(), model: z.string().optional() }).optional(),
      package: z.object({ version: z.string().optional() }).optional(),
    }),
  }),
]);

export const handler = releaseStepHandler({
  name: 'RecordOutcome',
  wire: () => ({
    schema: eventSchema,
    deps: {
      policies: parseRetrainPolicies(currentEnvironment()[RETRAIN_POLICIES_ENV]),
      monitorState: DynamoMonitorStateStore.fromEnv(),
      deployments: DynamoDeploymentStore.fromEnv(),
      audit: DynamoAuditLog.fromEnv(),
      metrics: new PowertoolsMetricsSink({ namespace: env.metricsNamespace() }),
    },
  }),
  run: async (deps, event) => {
    let input: OutcomeInput;
    if (event.result === 'failed') {
      const model =
        event.input.guard?.model ?? (typeof event.input.model === 'string' ? event.input.model : undefined);
      if (model === undefined) {
        throw new ConfigurationError('RecordFailure: the failed execution names no model; nothing to record');
      }
      const cause = event.error.Cause ?? '';
      input = {
        model,
        executionId: event.executionId,
        outcome: 'failed',
        ...(event.input.guard?.runId !== undefined ? { runId: event.input.guard.runId } : {}),
        ...(event.input.package?.version !== undefined ? { version: event.input.package.version } : {}),
        failure: { step: event.step, error: event.error.Error, cause: failureCauseExcerpt(cause) },
      };
    } else if (event.result === 'rejected') {
      input = { ...event, outcome: 'rejected-by-champion-gate' };
    } else {
      // Promoted is what the routing record says now, not what the release's output claims.
      const routing = await deps.deployments.getDeployment(event.model);
      input = {
        model: event.model,
        runId: event.runId,
        version: event.version,
        executionId: event.executionId,
        outcome: routing?.stable === event.version ? 'promoted' : 'released-not-promoted',
        details: { releaseExecution: event.releaseExecution, stable: routing?.stable ?? null },
      };
    }
    const policy = deps.policies[input.model] ?? { backoffMs: 0 };
    const result = await recordRetrainOutcome(deps, input, policy, Date.now());
    logger.info('retrain outcome recorded', { ...result });
    // Exactly {Model}: the retrain-failed alarm rule (lambdas/core/alarm-rules.ts) addresses the series by it alone.
    deps.metrics.emit(
      [{ [METRIC_DIMENSIONS.model]: input.model }],
      [
        {
          name: result.outcome === 'failed' ? RETRAIN_METRICS.failed : RETRAIN_METRICS.ended,
          unit: 'Count',
          value: 1,
        },
      ],
    );
    deps.metrics.flush();
    return result;
  },
});
