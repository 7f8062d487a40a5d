/**
 * The SageMaker deploy target of the release state machine: it puts the candidate's production variant next to the
 * stable one on the endpoint CloudFormation created, waits until the endpoint runs that config, and afterwards
 * switches to a config with only the kept version. Routing between the variants stays with the router
 * (`TargetVariant = variantNameFor(version)`) and the Deployments table; this target only provides capacity.
 *
 * Every step is planned by lambdas/core/rollout-target.ts and named by content, so each call is safe to repeat:
 * - `deployCandidate`: DescribeEndpoint; done if already InService on the plan's config, pending if an update to it
 *   is under way; otherwise CreateModel (stable, candidate) → CreateEndpointConfig → UpdateEndpoint → pending.
 *   "Already exists" from a create is success: the name is a hash of the content, so what exists is what we want.
 * - `pollCandidate`: DescribeEndpoint, judged by `judgeEndpointState` — including the silent rollback (InService on
 *   the previous config), which InService alone would hide; once InService with both variants, the router's warm-up
 *   (`smoke`): the manifest's smoke samples through the router onto the candidate's variant (SMOKE_FAILED and the
 *   other warm-up reason codes roll back, like the Lambda target's).
 * - `retire`: the same steps towards the kept version's single-variant config; once the endpoint runs it (or any
 *   config with only the kept variant), DeleteEndpointConfig of the two-variant rollout config → ready. The rollout
 *   config is deleted only after the endpoint has left it: deleting a config the endpoint still uses breaks its next
 *   update (terraform-provider-aws#40048). Models are kept (they cost nothing and make a re-rollout cheap).
 *
 * Throttling and 5xx are mapped to `TransientStoreError` (the ASL retries it); a busy endpoint we did not make busy
 * is `TargetBusyError` (retried too); a verdict on the candidate is `TargetDeployFailedError` (rolls back).
 */
import {
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DeleteEndpointConfigCommand,
  DescribeEndpointCommand,
  SageMakerClient,
  UpdateEndpointCommand,
  type DescribeEndpointCommandOutput,
  type ProductionVariantInstanceType,
} from '@aws-sdk/client-sagemaker';
import type { VersionReader } from '../core/ports';
import {
  endpointConfigFor,
  judgeEndpointState,
  SAGEMAKER_FAILURE,
  TargetBusyError,
  TargetDeployFailedError,
  type EndpointPlan,
  type RolloutTarget,
  type RolloutTargetRequest,
  type SageMakerTargetSettings,
  type TargetProgress,
  type VersionArtifact,
} from '../core/rollout-target';
import { variantNameFor } from '../core/keys';
import { mapStoreError } from './clients';
import { warmInServingFunction, type CandidateWarmer } from './lambda-rollout-target';

/** The commands this target sends. */
export type SageMakerRolloutCommand =
  | DescribeEndpointCommand
  | CreateModelCommand
  | CreateEndpointConfigCommand
  | UpdateEndpointCommand
  | DeleteEndpointConfigCommand;

/** What the target needs of the SDK client; a recorded-response fake in tests. */
export interface SageMakerRolloutClient {
  send(command: SageMakerRolloutCommand): Promise<unknown>;
}

export interface SageMakerRolloutTargetOptions {
  /** What the stack deployed (`SageMakerEndpoint.rolloutSettings`). */
  readonly settings: SageMakerTargetSettings;
  /** The ModelVersions table: a version's registered `model.tar.gz` and its sha256. */
  readonly versions: VersionReader;
  /** @default a SageMakerClient created once per execution environment */
  readonly client?: SageMakerRolloutClient;
  /**
   * How long the state machine waits between polls. A real-time update takes minutes (new instances, model
   * download, health checks), so polling faster only spends requests.
   * @default 60
   */
  readonly pollSeconds?: number;
  /**
   * The router's warm-up, sent once the endpoint runs both variants: the candidate's manifest smoke samples through
   * the router's real validator, InvokeEndpoint on the candidate's variant and formatter, in `concurrency`
   * environments (provisioned concurrency's minimum), so the first canary requests find the candidate loaded.
   * @default none (InService alone makes the candidate ready)
   */
  readonly smoke?: { readonly warmer: CandidateWarmer; readonly concurrency?: number };
}

let defaultClient: SageMakerClient | undefined;

/** Created on first use, once per execution environment (the Lambda target's functions never load it). */
function sageMakerClient(): SageMakerClient {
  defaultClient ??= new SageMakerClient({});
  return defaultClient;
}

const TRANSITIONAL = new Set(['Creating', 'Updating', 'SystemUpdating']);

interface SdkError {
  readonly name?: string;
  readonly message?: string;
}

function sdkError(err: unknown): SdkError {
  return typeof err === 'object' && err !== null ? (err as SdkError) : {};
}

/** SageMaker answers a create of an existing name with ValidationException "Cannot create already existing …". */
function isAlreadyExists(err: unknown): boolean {
  const e = sdkError(err);
  return e.name === 'ValidationException' && /already exist/i.test(e.message ?? '');
}

/** "Could not find endpoint …" / "Could not find endpoint configuration …". */
function isNotFound(err: unknown): boolean {
  const e = sdkError(err);
  return e.name === 'ValidationException' && /could not find/i.test(e.message ?? '');
}

/** UpdateEndpoint on an endpoint that is not InService: "Cannot update in-progress endpoint …". */
function isInProgress(err: unknown): boolean {
  const e = sdkError(err);
  return e.name === 'ValidationException' && /in-progress|in progress/i.test(e.message ?? '');
}

export class SageMakerRolloutTarget implements RolloutTarget {
  private readonly settings: SageMakerTargetSettings;
  private readonly versions: VersionReader;
  private readonly client: SageMakerRolloutClient;
  private readonly pollSeconds: number;
  private readonly smoke: SageMakerRolloutTargetOptions['smoke'];

  constructor(options: SageMakerRolloutTargetOptions) {
    this.settings = options.settings;
    this.smoke = options.smoke;
    this.versions = options.versions;
    this.client = options.client ?? sageMakerClient();
    this.pollSeconds = options.pollSeconds ?? 60;
    if (!Number.isInteger(this.pollSeconds) || this.pollSeconds < 1) {
      throw new RangeError(`pollSeconds must be a whole number of seconds ≥ 1, got ${options.pollSeconds}`);
    }
  }

  async deployCandidate(req: RolloutTargetRequest): Promise<TargetProgress> {
    const plan = await this.plan(req.model, req.stable, req.candidate);
    const endpoint = await this.describe();
    const target = plan.config.EndpointConfigName;
    const status = endpoint.EndpointStatus ?? '';
    if (status === 'InService' && endpoint.EndpointConfigName === target) {
      // A repeat after the update finished: judge it like a poll (the variants must be there).
      return this.progress(endpoint, plan, req);
    }
    if (TRANSITIONAL.has(status)) {
      const heading = updatingTo(endpoint) ?? endpoint.EndpointConfigName;
      if (heading === target) return this.pending(endpoint, plan, 'update-in-progress');
      throw new TargetBusyError(
        `SageMaker endpoint ${this.settings.endpointName} is ${status} towards config ` +
          `${heading ?? '(not reported)'}, not this rollout's ${target}; nothing was changed, retry ` +
          'once it is InService',
      );
    }
    if (status !== 'InService') {
      // Failed, RollingBack, OutOfService, Deleting: the judge names why the candidate cannot be placed.
      return this.progress(endpoint, plan, req);
    }
    await this.ensure(plan);
    await this.update(target);
    return { status: 'pending', pollSeconds: this.pollSeconds, detail: this.detail(plan, 'update-issued') };
  }

  async pollCandidate(req: RolloutTargetRequest): Promise<TargetProgress> {
    const plan = await this.plan(req.model, req.stable, req.candidate);
    return this.progress(await this.describe(), plan, req);
  }

  async retire(req: RolloutTargetRequest & { readonly keep: string }): Promise<TargetProgress> {
    if (req.keep !== req.stable && req.keep !== req.candidate) {
      throw new RangeError(
        `keep must be the stable (${JSON.stringify(req.stable)}) or the candidate (${JSON.stringify(req.candidate)}) ` +
          `version, got ${JSON.stringify(req.keep)}`,
      );
    }
    const keptVariant = variantNameFor(req.keep);
    const endpoint = await this.describe();
    const status = endpoint.EndpointStatus ?? '';
    if (TRANSITIONAL.has(status) || status === 'RollingBack') {
      // Whichever change is under way (ours, the deploy a rollback cut short, SageMaker's own), retire decides
      // once it settles; it is called again after pollSeconds.
      return {
        status: 'pending',
        pollSeconds: this.pollSeconds,
        detail: { ...describeDetail(endpoint), action: 'wait-for-endpoint', keep: req.keep },
      };
    }
    if (status !== 'InService') {
      const verdict = judgeEndpointState(endpoint, endpoint.EndpointConfigName ?? '');
      if (verdict.state === 'failed') {
        throw new TargetDeployFailedError(verdict.reasonCode, verdict.message, verdict.detail);
      }
    }
    const rollout = await this.plan(req.model, req.stable, req.candidate);
    const variants = (endpoint.ProductionVariants ?? []).map((v) => v.VariantName);
    if (variants.length === 1 && variants[0] === keptVariant) {
      // Only the kept version has capacity (our retire config, or the stack's initial config when the candidate
      // never came up): no update needed, only the rollout config to clean up.
      // Also the loser's single-variant config (left by the retire of an earlier rollout), so configs do not pile
      // up; the stack's initial config has another name and is never touched.
      const loser = req.keep === req.stable ? req.candidate : req.stable;
      const loserSingle = endpointConfigFor({
        settings: this.settings,
        model: req.model,
        stable: await this.artifact(req.model, loser),
      }).config.EndpointConfigName;
      const deleted: string[] = [];
      for (const name of [rollout.config.EndpointConfigName, loserSingle]) {
        if (await this.deleteConfig(name, endpoint.EndpointConfigName)) deleted.push(name);
      }
      return {
        status: 'ready',
        detail: { ...describeDetail(endpoint), action: 'retired', keep: req.keep, deletedConfigs: deleted },
      };
    }
    const single = endpointConfigFor({
      settings: this.settings,
      model: req.model,
      stable: await this.artifact(req.model, req.keep),
    });
    await this.ensure(single);
    await this.update(single.config.EndpointConfigName);
    return {
      status: 'pending',
      pollSeconds: this.pollSeconds,
      detail: { ...this.detail(single, 'update-issued'), keep: req.keep },
    };
  }

  /** The two-variant plan of a rollout; throws TargetDeployFailedError when a version cannot be served. */
  private async plan(model: string, stable: string, candidate: string): Promise<EndpointPlan> {
    const [s, c] = await Promise.all([this.artifact(model, stable), this.artifact(model, candidate)]);
    return endpointConfigFor({ settings: this.settings, model, stable: s, candidate: c });
  }

  private async artifact(model: string, version: string): Promise<VersionArtifact> {
    const record = await this.versions.getVersion(model, version);
    const problem =
      record === undefined
        ? 'has no ModelVersions record'
        : record.status !== 'REGISTERED'
          ? `is ${record.status}, not REGISTERED`
          : record.artifactKey === undefined || record.sha256 === undefined
            ? 'has no registered artifact (artifactKey, sha256)'
            : !record.artifactKey.endsWith('.tar.gz')
              ? `is a ${record.framework ?? 'onnx'} artifact (${record.artifactKey}), not a SageMaker model.tar.gz`
              : undefined;
    if (problem !== undefined || record?.artifactKey === undefined || record.sha256 === undefined) {
      throw new TargetDeployFailedError(
        SAGEMAKER_FAILURE.artifactNotServable,
        `${model} ${version} ${problem ?? 'cannot be served'}; push it as a framework "sagemaker" bundle ` +
          '(model.tar.gz) and let it register before rolling it out',
        { model, version },
      );
    }
    return {
      version,
      sha256: record.sha256,
      modelDataUrl: `s3://${this.settings.registryBucketName}/${record.artifactKey}`,
    };
  }

  private async describe(): Promise<DescribeEndpointCommandOutput> {
    const endpointName = this.settings.endpointName;
    try {
      return (await this.client.send(
        new DescribeEndpointCommand({ EndpointName: endpointName }),
      )) as DescribeEndpointCommandOutput;
    } catch (err) {
      if (isNotFound(err)) {
        throw new TargetDeployFailedError(
          SAGEMAKER_FAILURE.endpointNotFound,
          `SageMaker endpoint ${endpointName} does not exist in this account and region; deploy the stack that ` +
            'creates it (cdk deploy) before rolling out',
          { endpointName },
          { cause: err },
        );
      }
      throw mapStoreError(err, `DescribeEndpoint ${endpointName}`);
    }
  }

  /** CreateModel for each version, then CreateEndpointConfig; what already exists is what the plan asks for. */
  private async ensure(plan: EndpointPlan): Promise<void> {
    for (const model of plan.models) {
      await this.createIfAbsent(
        new CreateModelCommand({
          ModelName: model.ModelName,
          ExecutionRoleArn: model.ExecutionRoleArn,
          EnableNetworkIsolation: model.EnableNetworkIsolation,
          PrimaryContainer: { ...model.PrimaryContainer },
        }),
        `CreateModel ${model.ModelName}`,
      );
    }
    const config = plan.config;
    await this.createIfAbsent(
      new CreateEndpointConfigCommand({
        EndpointConfigName: config.EndpointConfigName,
        ProductionVariants: config.ProductionVariants.map(({ InstanceType, ServerlessConfig, ...v }) => ({
          ...v,
          // The SDK types instance types as a closed union; config.ts has already checked the ml.<family>.<size> form.
          ...(InstanceType !== undefined
            ? { InstanceType: InstanceType as ProductionVariantInstanceType }
            : {}),
          ...(ServerlessConfig !== undefined ? { ServerlessConfig: { ...ServerlessConfig } } : {}),
        })),
        ...(config.KmsKeyId !== undefined ? { KmsKeyId: config.KmsKeyId } : {}),
      }),
      `CreateEndpointConfig ${config.EndpointConfigName}`,
    );
  }

  private async createIfAbsent(
    command: CreateModelCommand | CreateEndpointConfigCommand,
    operation: string,
  ): Promise<void> {
    try {
      await this.client.send(command);
    } catch (err) {
      if (isAlreadyExists(err)) return;
      throw mapStoreError(err, operation);
    }
  }

  private async update(endpointConfigName: string): Promise<void> {
    const endpointName = this.settings.endpointName;
    try {
      await this.client.send(
        new UpdateEndpointCommand({ EndpointName: endpointName, EndpointConfigName: endpointConfigName }),
      );
    } catch (err) {
      if (isInProgress(err)) {
        throw new TargetBusyError(
          `SageMaker endpoint ${endpointName} started another update between DescribeEndpoint and UpdateEndpoint ` +
            `(${sdkError(err).message ?? 'in progress'}); retry once it is InService`,
          { cause: err },
        );
      }
      throw mapStoreError(err, `UpdateEndpoint ${endpointName} → ${endpointConfigName}`);
    }
  }

  /**
   * DeleteEndpointConfig, unless the endpoint still runs that config; an absent config is done. True when this call
   * deleted it.
   */
  private async deleteConfig(name: string, running: string | undefined): Promise<boolean> {
    if (name === running) return false;
    try {
      await this.client.send(new DeleteEndpointConfigCommand({ EndpointConfigName: name }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw mapStoreError(err, `DeleteEndpointConfig ${name}`);
    }
  }

  /**
   * The endpoint judged against the plan; once InService with both variants, the smoke samples through the router
   * (when configured): InService says only that SageMaker's health check passed, not that the candidate answers
   * this model's requests the way its manifest says.
   */
  private async progress(
    endpoint: DescribeEndpointCommandOutput,
    plan: EndpointPlan,
    req: RolloutTargetRequest,
  ): Promise<TargetProgress> {
    const verdict = judgeEndpointState(endpoint, plan.config.EndpointConfigName, plan.variants);
    if (verdict.state === 'failed') {
      throw new TargetDeployFailedError(verdict.reasonCode, verdict.message, verdict.detail);
    }
    if (verdict.state === 'pending') return this.pending(endpoint, plan, 'update-in-progress');
    const detail = { ...verdict.detail, action: 'in-service' };
    if (this.smoke === undefined) return { status: 'ready', detail };
    const smoke = await warmInServingFunction(this.smoke.warmer, this.smoke.concurrency ?? 1, {
      model: req.model,
      version: req.candidate,
    });
    return smoke.status === 'ready' ? { status: 'ready', detail: { ...detail, smoke: smoke.detail } } : smoke;
  }

  private pending(
    endpoint: DescribeEndpointCommandOutput,
    plan: EndpointPlan,
    action: string,
  ): TargetProgress {
    return {
      status: 'pending',
      pollSeconds: this.pollSeconds,
      detail: { ...describeDetail(endpoint), requestedConfigName: plan.config.EndpointConfigName, action },
    };
  }

  private detail(plan: EndpointPlan, action: string): Record<string, unknown> {
    return {
      endpointName: this.settings.endpointName,
      requestedConfigName: plan.config.EndpointConfigName,
      variants: plan.variants,
      models: plan.models.map((m) => m.ModelName),
      action,
    };
  }
}

/** The config an update is heading for: SageMaker reports it in PendingDeploymentSummary while Updating. */
function updatingTo(endpoint: DescribeEndpointCommandOutput): string | undefined {
  return endpoint.PendingDeploymentSummary?.EndpointConfigName ?? undefined;
}

function describeDetail(endpoint: DescribeEndpointCommandOutput): Record<string, unknown> {
  return {
    endpointName: endpoint.EndpointName,
    endpointStatus: endpoint.EndpointStatus,
    endpointConfigName: endpoint.EndpointConfigName,
    variants: (endpoint.ProductionVariants ?? []).map((v) => v.VariantName),
    ...(updatingTo(endpoint) !== undefined ? { updatingTo: updatingTo(endpoint) } : {}),
  };
}
