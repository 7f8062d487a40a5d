/**
 * CheckApproval, AwaitApproval and ExpireApproval (release state machine), chosen by `action`; see core/approval.ts.
 * AwaitApproval is a `.waitForTaskToken` state: what this function returns there is discarded, the state machine
 * waits until `modelops approve|reject` resumes the stored token (or the state's timeout passes).
 */
import { DynamoApprovalStore } from '../adapters/dynamo-approval-store';
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoVersionStore } from '../adapters/dynamo-version-store';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher';
import { checkApproval, expireApproval, requestApproval } from '../core/approval';
import {
  APPROVAL_POLICIES_ENV,
  approvalEventSchema,
  EVENT_BUS_NAME_ENV,
  parseApprovalPolicies,
} from '../core/approval-events';
import { ApprovalConflictError } from '../core/ports';
import { currentEnvironment } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

export const handler = releaseStepHandler({
  name: 'Approval',
  wire: () => {
    const environment = currentEnvironment();
    const busName = environment[EVENT_BUS_NAME_ENV] ?? '';
    return {
      schema: approvalEventSchema,
      deps: {
        versions: DynamoVersionStore.fromEnv(),
        approvals: DynamoApprovalStore.fromEnv(),
        audit: DynamoAuditLog.fromEnv(),
        policies: parseApprovalPolicies(environment[APPROVAL_POLICIES_ENV]),
        // No bus locally: the local binding logs the request with the command that decides it.
        events: busName === '' ? undefined : new EventBridgePublisher(undefined, busName),
      },
    };
  },
  run: async (deps, input) => {
    const { model, version } = input.registration;
    const nowMs = Date.now();
    if (input.action === 'check') {
      const outcome = await checkApproval(deps, {
        model,
        version,
        executionId: input.executionId,
        policy: deps.policies.get(model),
        nowMs,
      });
      logger.info('approval checked', { model, version, next: outcome.next, why: outcome.why });
      return outcome;
    }
    if (input.action === 'expire') {
      const outcome = await expireApproval(deps, { model, version, executionId: input.executionId, nowMs });
      logger.info('approval wait timed out', { model, version, next: outcome.next });
      if (outcome.next === 'timed-out') metrics.addMetric('ApprovalsTimedOut', MetricUnit.Count, 1);
      return outcome;
    }
    const { request, notification } = await requestApproval(deps, {
      model,
      version,
      executionId: input.executionId,
      taskToken: input.taskToken,
      why: input.approval.why,
      timeoutSeconds: input.approval.timeoutSeconds,
      nowMs,
    });
    // The request is stored and audited first: a lost notification delays a decision, it never loses the request.
    await deps.events?.publish(notification).catch((err: Error) => {
      logger.warn('approval notification not published', { model, version, error: err });
    });
    metrics.addMetric('ApprovalsRequested', MetricUnit.Count, 1);
    logger.info('approval requested', { model, version, expiresAt: request.expiresAt });
    return { state: request.state, expiresAt: request.expiresAt };
  },
  onExpectedFailure: (err) => err instanceof ApprovalConflictError,
});
