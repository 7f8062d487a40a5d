/**
 * DeployCandidate, PollCandidate and RetireCandidate (release state machine), chosen by `action`: the model's deploy
 * target from ROLLOUT_TARGETS — Lambda (warm the candidate in the model's inference function: load, hashes,
 * signature, smoke samples) or SageMaker (the candidate's variant next to stable, InService) — driven by
 * core/candidate-deploy.ts `candidateStep`.
 */
import { DynamoAuditLog } from '../adapters/dynamo-audit-log';
import { DynamoDeploymentStore } from '../adapters/dynamo-deployment-store';
import { DynamoVersionStore } from '../adapters/dynamo-version-store';
import {
  HttpCandidateWarmer,
  LambdaInvokeWarmer,
  LambdaRolloutTarget,
} from '../adapters/lambda-rollout-target';
import { SageMakerRolloutTarget } from '../adapters/sagemaker-rollout-target';
import {
  CANDIDATE_WARM_URL_ENV,
  candidateStep,
  deployCandidateEventSchema,
  parseRolloutTargets,
  ROLLOUT_TARGETS_ENV,
  type RolloutTargetConfig,
  type TargetKind,
} from '../core/candidate-deploy';
import { LAMBDA_TARGET_FAILURE } from '../core/candidate-warm';
import { TransientStoreError } from '../core/errors';
import type { VersionReader } from '../core/ports';
import {
  TargetBusyError,
  TargetDeployFailedError,
  type RolloutTarget,
  type TargetProgress,
} from '../core/rollout-target';
import { currentEnvironment } from '../shared/env';
import { logger, metrics, MetricUnit } from '../shared/powertools';
import { releaseStepHandler } from '../shared/release-step';

/** A model DeployCandidate cannot reach: deploys fail (the rollout is rolled back with why), retire has nothing to do. */
function unreachable(message: string): RolloutTarget {
  const fail = (): Promise<TargetProgress> =>
    Promise.reject(new TargetDeployFailedError(LAMBDA_TARGET_FAILURE.notConfigured, message));
  return {
    deployCandidate: fail,
    pollCandidate: fail,
    retire: async () => ({ status: 'ready', detail: { action: 'noop', reason: message } }),
  };
}

function targetFor(
  model: string,
  config: RolloutTargetConfig | undefined,
  versions: VersionReader,
  warmUrl: string | undefined,
): { readonly kind: TargetKind; readonly target: RolloutTarget } {
  if (config === undefined) {
    return {
      kind: 'lambda',
      target: unreachable(
        `${model} has no deploy target in ${ROLLOUT_TARGETS_ENV}; deploy the stack again from modelops.config.ts`,
      ),
    };
  }
  if (config.kind === 'sagemaker') {
    return {
      kind: 'sagemaker',
      target:
        config.settings === undefined
          ? unreachable(
              `${model} is served by SageMaker (models[].target), which local mode does not run; roll it out in AWS`,
            )
          : new SageMakerRolloutTarget({
              settings: config.settings,
              versions,
              ...(config.routerFunctionArn !== undefined
                ? {
                    smoke: {
                      warmer: new LambdaInvokeWarmer({ functionArn: config.routerFunctionArn }),
                      concurrency: config.warmConcurrency ?? 1,
                    },
                  }
                : {}),
            }),
    };
  }
  if (warmUrl !== undefined && warmUrl !== '') {
    return { kind: 'lambda', target: new LambdaRolloutTarget(new HttpCandidateWarmer({ baseUrl: warmUrl })) };
  }
  if (config.functionArn !== undefined) {
    return {
      kind: 'lambda',
      target: new LambdaRolloutTarget(
        new LambdaInvokeWarmer({ functionArn: config.functionArn }),
        config.warmConcurrency ?? 1,
      ),
    };
  }
  return {
    kind: 'lambda',
    target: unreachable(
      `${model}'s inference function is not reachable: no function ARN in ${ROLLOUT_TARGETS_ENV} and no ` +
        `${CANDIDATE_WARM_URL_ENV} (locally: is the inference server running?)`,
    ),
  };
}

export const handler = releaseStepHandler({
  name: 'DeployCandidate',
  wire: () => {
    const environment = currentEnvironment();
    const versions = DynamoVersionStore.fromEnv();
    const configs = parseRolloutTargets(environment[ROLLOUT_TARGETS_ENV]);
    const targets = new Map<string, ReturnType<typeof targetFor>>();
    return {
      schema: deployCandidateEventSchema,
      deps: {
        audit: DynamoAuditLog.fromEnv(),
        deployments: DynamoDeploymentStore.fromEnv(),
        // Per model, built on first use; the warm URL is read per call (local mode provides it once its server runs).
        target: (model: string) => {
          const warmUrl = currentEnvironment()[CANDIDATE_WARM_URL_ENV];
          const key = `${model}\n${warmUrl ?? ''}`;
          let found = targets.get(key);
          if (found === undefined)
            targets.set(key, (found = targetFor(model, configs.get(model), versions, warmUrl)));
          return found;
        },
      },
    };
  },
  run: async (deps, input) => {
    const { model, version } = input.rollout;
    const { kind, target } = deps.target(model);
    const progress = await candidateStep(
      { target, targetKind: kind, audit: deps.audit, deployments: deps.deployments },
      input,
      Date.now(),
    );
    logger.info('candidate step', {
      model,
      version,
      action: input.action,
      target: kind,
      status: progress.status,
    });
    if (input.action !== 'retire' && progress.status === 'ready') {
      metrics.addMetric('CandidatesDeployed', MetricUnit.Count, 1);
    }
    if (progress.status === 'failed') metrics.addMetric('CandidateRetireFailures', MetricUnit.Count, 1);
    return progress;
  },
  // A deploy verdict (rolled back by the ASL, audited), or a target that is busy or throttled (retried by the ASL).
  onExpectedFailure: (err) => {
    if (err instanceof TargetDeployFailedError) {
      logger.warn('candidate cannot be deployed', { reasonCode: err.reasonCode, message: err.message });
      return true;
    }
    return err instanceof TargetBusyError || err instanceof TransientStoreError;
  },
});
