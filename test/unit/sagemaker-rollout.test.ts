/**
 * The SageMaker side of the canary rollout: planning (lambdas/core/rollout-target.ts) and the adapter
 * (lambdas/adapters/sagemaker-rollout-target.ts) driven through whole deploy, poll and retire sequences.
 *
 * SageMaker has no emulator (nothing on npm or in Debian speaks its control-plane API), so these tests run against
 * recorded responses: the JSON under test/fixtures/sagemaker/ has the exact shapes of the API reference's
 * DescribeEndpoint, CreateModel, CreateEndpointConfig, UpdateEndpoint and DeleteEndpointConfig responses and of its
 * ValidationException messages ("Cannot create already existing …", "Could not find …", "Cannot update
 * in-progress …"). They were written from the reference and the reported behaviour of real endpoints (the silent
 * rollback of terraform-provider-aws#48997: InService on the previous config, no FailureReason), not captured from a
 * live account. A fake client returns them in sequence and records every command (name and input), so each test
 * asserts the exact calls. What they cannot show: SageMaker's timing, and whether a real update ever reports a
 * status this code does not expect — see docs/rollout-sagemaker.md.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SageMakerServiceException } from '@aws-sdk/client-sagemaker';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SageMakerRolloutTarget } from '../../lambdas/adapters/sagemaker-rollout-target';
import type { SageMakerRolloutCommand } from '../../lambdas/adapters/sagemaker-rollout-target';
import { TransientStoreError } from '../../lambdas/core/errors';
import { variantNameFor } from '../../lambdas/core/keys';
import { VERSION_PATTERN } from '../../lambdas/core/names';
import type { VersionRecord, VersionReader } from '../../lambdas/core/ports';
import {
  endpointConfigFor,
  endpointConfigNamePrefix,
  judgeEndpointState,
  modelNamePrefix,
  rolloutNamePrefix,
  SAGEMAKER_FAILURE,
  SAGEMAKER_NAME_MAX_LENGTH,
  SAGEMAKER_NAME_PATTERN,
  TargetBusyError,
  TargetDeployFailedError,
} from '../../lambdas/core/rollout-target';
import type { SageMakerTargetSettings, VersionArtifact } from '../../lambdas/core/rollout-target';
import type { WarmCandidateRequest } from '../../lambdas/core/candidate-warm';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'sagemaker');
function fixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as T;
}

interface ErrorFixture {
  readonly name: string;
  readonly message: string;
  readonly $fault: 'client' | 'server';
  readonly $metadata: Record<string, unknown>;
}
const ERRORS = fixture<Record<string, ErrorFixture>>('errors');
/** An error as the SDK throws it: a SageMakerServiceException with the recorded name, message and metadata. */
function sdkError(key: keyof typeof ERRORS & string): SageMakerServiceException {
  const e = ERRORS[key]!;
  return new SageMakerServiceException({ ...e });
}

const SETTINGS: SageMakerTargetSettings = {
  endpointName: 'modelops-test-FraudScore-Endpoint-8F2D4C1A',
  executionRoleArn: 'arn:aws:iam::123456789012:role/modelops-test-FraudScoreExecutionRole-1QX2W3E4R5T6',
  image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml/xgboost-inference:1.7-1',
  registryBucketName: 'modelops-test-registrybucket-abc123',
  variant: { kind: 'realtime', instanceType: 'ml.m5.xlarge', initialInstanceCount: 2 },
  kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
};
const MODEL = 'fraud-score';
const STABLE = '1.0.0';
const CANDIDATE = '1.1.0';
const SHA = { [STABLE]: 'a'.repeat(64), [CANDIDATE]: 'b'.repeat(64) } as Record<string, string>;
const REQ = { model: MODEL, stable: STABLE, candidate: CANDIDATE };

/** The config names the fixtures were recorded with (asserted against the planner below). */
const INITIAL_CONFIG = 'EndpointConfig-Xk3PqR9sT2vW';
const ROLLOUT_CONFIG = 'modelops-test-fraudscore-endpoi-502a5bd3-c-4f1dc0ff28388c6e';
const KEEP_CANDIDATE_CONFIG = 'modelops-test-fraudscore-endpoi-502a5bd3-c-39a11c4465d78a75';
const KEEP_STABLE_CONFIG = 'modelops-test-fraudscore-endpoi-502a5bd3-c-eadb7c5468982d5b';
const STABLE_MODEL = 'modelops-test-fraudscore-endpoi-502a5bd3-m-12e4e3aea706394e';
const CANDIDATE_MODEL = 'modelops-test-fraudscore-endpoi-502a5bd3-m-cf8f101ac3df3b47';

function record(version: string, over: Partial<VersionRecord> = {}): VersionRecord {
  return {
    model: MODEL,
    version,
    status: 'REGISTERED',
    createdAt: '2026-12-01T00:00:00.000Z',
    updatedAt: '2026-12-01T00:00:00.000Z',
    framework: 'sagemaker',
    sha256: SHA[version],
    artifactKey: `models/${MODEL}/${version}/${SHA[version]}.tar.gz`,
    ...over,
  };
}

function versions(records: VersionRecord[] = [record(STABLE), record(CANDIDATE)]): VersionReader {
  return {
    async getVersion(model, version) {
      return records.find((r) => r.model === model && r.version === version);
    },
  };
}

function artifact(version: string): VersionArtifact {
  return {
    version,
    sha256: SHA[version]!,
    modelDataUrl: `s3://${SETTINGS.registryBucketName}/models/${MODEL}/${version}/${SHA[version]}.tar.gz`,
  };
}

type CommandName =
  'DescribeEndpoint' | 'CreateModel' | 'CreateEndpointConfig' | 'UpdateEndpoint' | 'DeleteEndpointConfig';
/** One recorded exchange: the command the adapter must send next, and what SageMaker answered. */
type Exchange = readonly [CommandName, { readonly ok: unknown } | { readonly error: Error }];

const ok = (name: string): { ok: unknown } => ({ ok: fixture(name) });
const fails = (key: string): { error: Error } => ({ error: sdkError(key) });

/** Replays recorded responses in order and records every command; a command out of sequence fails the test. */
class RecordedSageMaker {
  readonly calls: { name: string; input: unknown }[] = [];
  constructor(private readonly script: Exchange[]) {}

  async send(command: SageMakerRolloutCommand): Promise<unknown> {
    const name = command.constructor.name.replace(/Command$/, '');
    this.calls.push({ name, input: command.input });
    const next = this.script.shift();
    if (next === undefined) throw new Error(`unexpected ${name}: no recorded response left`);
    const [expected, reply] = next;
    if (expected !== name) throw new Error(`expected ${expected}, the adapter sent ${name}`);
    if ('error' in reply) throw reply.error;
    return reply.ok;
  }

  get names(): string[] {
    return this.calls.map((c) => c.name);
  }

  /** Every recorded response was asked for. */
  get done(): boolean {
    return this.script.length === 0;
  }
}

function target(script: Exchange[], records?: VersionRecord[]) {
  const client = new RecordedSageMaker(script);
  return {
    client,
    target: new SageMakerRolloutTarget({ settings: SETTINGS, versions: versions(records), client }),
  };
}

async function failure(promise: Promise<unknown>): Promise<TargetDeployFailedError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TargetDeployFailedError);
  return err as TargetDeployFailedError;
}

describe('fixtures', () => {
  it('carry the names the planner derives (a changed name would orphan configs on running endpoints)', () => {
    const plan = endpointConfigFor({
      settings: SETTINGS,
      model: MODEL,
      stable: artifact(STABLE),
      candidate: artifact(CANDIDATE),
    });
    expect(plan.config.EndpointConfigName).toBe(ROLLOUT_CONFIG);
    expect(plan.models.map((m) => m.ModelName)).toEqual([STABLE_MODEL, CANDIDATE_MODEL]);
    const single = (v: string) =>
      endpointConfigFor({ settings: SETTINGS, model: MODEL, stable: artifact(v) }).config.EndpointConfigName;
    expect(single(CANDIDATE)).toBe(KEEP_CANDIDATE_CONFIG);
    expect(single(STABLE)).toBe(KEEP_STABLE_CONFIG);
    expect(fixture('describe-endpoint-in-service-candidate').EndpointConfigName).toBe(ROLLOUT_CONFIG);
    expect(fixture('describe-endpoint-in-service-retired').EndpointConfigName).toBe(KEEP_CANDIDATE_CONFIG);
    expect(fixture('describe-endpoint-in-service-initial').EndpointConfigName).toBe(INITIAL_CONFIG);
  });
});

describe('endpointConfigFor', () => {
  const plan = endpointConfigFor({
    settings: SETTINGS,
    model: MODEL,
    stable: artifact(STABLE),
    candidate: artifact(CANDIDATE),
  });

  it('plans one production variant per version: stable weight 1, candidate weight 0, same shape and key', () => {
    expect(plan.config).toEqual({
      EndpointConfigName: ROLLOUT_CONFIG,
      ProductionVariants: [
        {
          VariantName: 'v-1-0-0',
          ModelName: STABLE_MODEL,
          InitialVariantWeight: 1,
          InstanceType: 'ml.m5.xlarge',
          InitialInstanceCount: 2,
        },
        {
          VariantName: 'v-1-1-0',
          ModelName: CANDIDATE_MODEL,
          InitialVariantWeight: 0,
          InstanceType: 'ml.m5.xlarge',
          InitialInstanceCount: 2,
        },
      ],
      KmsKeyId: SETTINGS.kmsKeyId,
    });
    expect(plan.variants).toEqual([variantNameFor(STABLE), variantNameFor(CANDIDATE)]);
  });

  it('plans each model on the endpoint image, role and the version registered model data', () => {
    expect(plan.models[1]).toEqual({
      ModelName: CANDIDATE_MODEL,
      ExecutionRoleArn: SETTINGS.executionRoleArn,
      EnableNetworkIsolation: true,
      PrimaryContainer: {
        Image: SETTINGS.image,
        Mode: 'SingleModel',
        ModelDataUrl: `s3://modelops-test-registrybucket-abc123/models/fraud-score/1.1.0/${SHA[CANDIDATE]}.tar.gz`,
      },
    });
  });

  it('plans serverless variants with ServerlessConfig and no KmsKeyId', () => {
    const serverless = endpointConfigFor({
      settings: {
        ...SETTINGS,
        kmsKeyId: undefined,
        variant: { kind: 'serverless', memorySizeInMb: 2048, maxConcurrency: 20, provisionedConcurrency: 5 },
      },
      model: MODEL,
      stable: artifact(STABLE),
      candidate: artifact(CANDIDATE),
    });
    expect(serverless.config.KmsKeyId).toBeUndefined();
    expect(serverless.config.ProductionVariants.map((v) => v.ServerlessConfig)).toEqual([
      { MemorySizeInMB: 2048, MaxConcurrency: 20, ProvisionedConcurrency: 5 },
      { MemorySizeInMB: 2048, MaxConcurrency: 20, ProvisionedConcurrency: 5 },
    ]);
    expect(serverless.config.EndpointConfigName).not.toBe(ROLLOUT_CONFIG);
  });

  it('names by content: the same request gives the same name, a changed setting a new one', () => {
    const again = endpointConfigFor({
      settings: { ...SETTINGS },
      model: MODEL,
      stable: artifact(STABLE),
      candidate: artifact(CANDIDATE),
    });
    expect(again).toEqual(plan);
    const otherImage = endpointConfigFor({
      settings: { ...SETTINGS, image: `${SETTINGS.image}-patched` },
      model: MODEL,
      stable: artifact(STABLE),
      candidate: artifact(CANDIDATE),
    });
    expect(otherImage.config.EndpointConfigName).not.toBe(ROLLOUT_CONFIG);
    expect(otherImage.models[0]!.ModelName).not.toBe(STABLE_MODEL);
    const swapped = endpointConfigFor({
      settings: SETTINGS,
      model: MODEL,
      stable: artifact(CANDIDATE),
      candidate: artifact(STABLE),
    });
    expect(swapped.config.EndpointConfigName).not.toBe(ROLLOUT_CONFIG);
  });

  it('gives versions that differ only in separators, or end in one, variants of their own that SageMaker accepts', () => {
    const plan = endpointConfigFor({
      settings: SETTINGS,
      model: MODEL,
      stable: { ...artifact(STABLE), version: '1.0' },
      candidate: { ...artifact(CANDIDATE), version: '1-0' },
    });
    expect(plan.variants).toEqual(['v-1-0', 'v-1--0']);
    const trailing = endpointConfigFor({
      settings: SETTINGS,
      model: MODEL,
      stable: artifact(STABLE),
      candidate: { ...artifact(CANDIDATE), version: '2.0.' },
    });
    expect(trailing.variants[1]).toMatch(/^x-2-0-[0-9a-f]{16}$/);
    for (const name of trailing.variants) expect(name).toMatch(SAGEMAKER_NAME_PATTERN);
  });

  it('rejects a candidate equal to stable and a malformed version', () => {
    expect(() =>
      endpointConfigFor({
        settings: SETTINGS,
        model: MODEL,
        stable: artifact(STABLE),
        candidate: artifact(STABLE),
      }),
    ).toThrow(/candidate must differ from stable/);
    expect(() =>
      endpointConfigFor({
        settings: SETTINGS,
        model: MODEL,
        stable: { ...artifact(STABLE), version: '../x' },
      }),
    ).toThrow(/stable must be a registered version.*"\.\.\/x"/);
    expect(() => rolloutNamePrefix('bad_name')).toThrow(/endpointName must be a SageMaker endpoint name/);
  });
});

describe('SageMaker names (property)', () => {
  const endpointNames = fc.stringMatching(SAGEMAKER_NAME_PATTERN);
  // Every version the planner accepts (it refuses ".." only).
  const versionArb = fc.stringMatching(VERSION_PATTERN).filter((v) => !v.includes('..'));
  const variantArb = fc.oneof(
    fc.record({
      kind: fc.constant('realtime' as const),
      instanceType: fc.constantFrom('ml.m5.large', 'ml.g5.xlarge', 'ml.c6i.24xlarge'),
      initialInstanceCount: fc.integer({ min: 1, max: 100 }),
    }),
    fc.record({
      kind: fc.constant('serverless' as const),
      memorySizeInMb: fc.constantFrom(1024, 2048, 6144),
      maxConcurrency: fc.integer({ min: 1, max: 200 }),
    }),
  );

  it('maps every version to its own variant name, one SageMaker accepts', () => {
    fc.assert(
      fc.property(fc.stringMatching(VERSION_PATTERN), fc.stringMatching(VERSION_PATTERN), (a, b) => {
        for (const name of [variantNameFor(a), variantNameFor(b)]) {
          expect(name.length).toBeLessThanOrEqual(SAGEMAKER_NAME_MAX_LENGTH);
          expect(name).toMatch(SAGEMAKER_NAME_PATTERN);
        }
        if (a !== b) expect(variantNameFor(a)).not.toBe(variantNameFor(b));
      }),
      { numRuns: 2000 },
    );
    // Near misses the property rarely draws: one separator for another, a doubled one, the 63-character edge.
    const nearMisses = [
      '1.0',
      '1-0',
      '1_0',
      '1..0',
      '1.-0',
      '1-.0',
      '1.',
      '1-',
      'a'.repeat(61),
      'a'.repeat(62),
    ];
    expect(new Set(nearMisses.map(variantNameFor)).size).toBe(nearMisses.length);
    expect(variantNameFor('a'.repeat(61))).toBe(`v-${'a'.repeat(61)}`);
  });

  it('keeps every model and config name within 63 characters of [a-zA-Z0-9](-*[a-zA-Z0-9])*, under the prefix', () => {
    fc.assert(
      fc.property(
        endpointNames,
        versionArb,
        versionArb,
        variantArb,
        (endpointName, stable, candidate, variant) => {
          fc.pre(stable !== candidate);
          const settings = { ...SETTINGS, endpointName, variant };
          const plan = endpointConfigFor({
            settings,
            model: MODEL,
            stable: { ...artifact(STABLE), version: stable },
            candidate: { ...artifact(CANDIDATE), version: candidate },
          });
          const names = [
            plan.config.EndpointConfigName,
            ...plan.models.map((m) => m.ModelName),
            ...plan.variants,
          ];
          for (const name of names) {
            expect(name.length).toBeLessThanOrEqual(SAGEMAKER_NAME_MAX_LENGTH);
            expect(name).toMatch(SAGEMAKER_NAME_PATTERN);
          }
          expect(plan.config.EndpointConfigName.startsWith(endpointConfigNamePrefix(endpointName))).toBe(
            true,
          );
          for (const m of plan.models)
            expect(m.ModelName.startsWith(modelNamePrefix(endpointName))).toBe(true);
          // Lower case: SageMaker lower-cases names in ARNs, and the IAM grant matches the ARN.
          expect(plan.config.EndpointConfigName).toBe(plan.config.EndpointConfigName.toLowerCase());
          const again = endpointConfigFor({
            settings,
            model: MODEL,
            stable: { ...artifact(STABLE), version: stable },
            candidate: { ...artifact(CANDIDATE), version: candidate },
          });
          expect(again.config.EndpointConfigName).toBe(plan.config.EndpointConfigName);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('gives endpoints with a common 31-character head different prefixes', () => {
    fc.assert(
      fc.property(endpointNames, endpointNames, (a, b) => {
        fc.pre(a !== b);
        expect(rolloutNamePrefix(a)).not.toBe(rolloutNamePrefix(b));
      }),
    );
    const head = 'a'.repeat(40);
    expect(rolloutNamePrefix(`${head}1`)).not.toBe(rolloutNamePrefix(`${head}2`));
  });
});

describe('judgeEndpointState', () => {
  const variants = [variantNameFor(STABLE), variantNameFor(CANDIDATE)];
  const judge = (name: string, over: Record<string, unknown> = {}) =>
    judgeEndpointState({ ...fixture(name), ...over }, ROLLOUT_CONFIG, variants);

  it('is pending while Creating, Updating or SystemUpdating', () => {
    expect(judge('describe-endpoint-updating').state).toBe('pending');
    expect(judge('describe-endpoint-updating', { EndpointStatus: 'SystemUpdating' }).state).toBe('pending');
    expect(judge('describe-endpoint-updating', { EndpointStatus: 'Creating' }).state).toBe('pending');
  });

  it('is ready only InService on the requested config with every variant', () => {
    expect(judge('describe-endpoint-in-service-candidate')).toMatchObject({
      state: 'ready',
      detail: { endpointConfigName: ROLLOUT_CONFIG, variants },
    });
  });

  it('fails a silent rollback: InService on another config, with or without a FailureReason', () => {
    expect(judge('describe-endpoint-silent-rollback')).toMatchObject({
      state: 'failed',
      reasonCode: 'SILENT_ROLLBACK',
      message: expect.stringMatching(
        new RegExp(
          `InService on config ${INITIAL_CONFIG}, not the requested ${ROLLOUT_CONFIG}.*without a FailureReason`,
        ),
      ),
    });
    expect(
      judge('describe-endpoint-silent-rollback', { FailureReason: 'Variant v-1-1-0 failed health checks' }),
    ).toMatchObject({
      reasonCode: 'SILENT_ROLLBACK',
      message: expect.stringContaining('failed health checks'),
    });
  });

  it('fails the requested config without the candidate variant', () => {
    const verdict = judge('describe-endpoint-in-service-candidate', {
      ProductionVariants: [{ VariantName: variantNameFor(STABLE) }],
    });
    expect(verdict).toMatchObject({ state: 'failed', reasonCode: 'VARIANT_MISSING' });
    expect(verdict.state === 'failed' && verdict.message).toMatch(/without v-1-1-0/);
  });

  it('fails Failed (with FailureReason), RollingBack, OutOfService, Deleting and unknown statuses', () => {
    expect(judge('describe-endpoint-failed')).toMatchObject({
      reasonCode: 'ENDPOINT_FAILED',
      message: expect.stringContaining('did not pass the ping health check'),
      detail: { failureReason: expect.stringContaining('ping health check') },
    });
    expect(judge('describe-endpoint-rolling-back')).toMatchObject({ reasonCode: 'ENDPOINT_ROLLING_BACK' });
    for (const status of ['OutOfService', 'Deleting']) {
      expect(judge('describe-endpoint-in-service-candidate', { EndpointStatus: status })).toMatchObject({
        reasonCode: 'ENDPOINT_OUT_OF_SERVICE',
      });
    }
    expect(judge('describe-endpoint-in-service-candidate', { EndpointStatus: 'Hibernating' })).toMatchObject({
      reasonCode: 'ENDPOINT_STATUS_UNKNOWN',
      message: expect.stringContaining('"Hibernating"'),
    });
  });
});

describe('SageMakerRolloutTarget.deployCandidate and pollCandidate', () => {
  it('runs a fresh deploy: CreateModel → CreateEndpointConfig → UpdateEndpoint → pending, Updating → pending, InService → ready', async () => {
    const { client, target: t } = target([
      ['DescribeEndpoint', ok('describe-endpoint-in-service-initial')],
      ['CreateModel', ok('create-model')],
      ['CreateModel', ok('create-model')],
      ['CreateEndpointConfig', ok('create-endpoint-config')],
      ['UpdateEndpoint', ok('update-endpoint')],
      ['DescribeEndpoint', ok('describe-endpoint-updating')],
      ['DescribeEndpoint', ok('describe-endpoint-in-service-candidate')],
    ]);
    const deployed = await t.deployCandidate(REQ);
    expect(deployed).toEqual({
      status: 'pending',
      pollSeconds: 60,
      detail: {
        endpointName: SETTINGS.endpointName,
        requestedConfigName: ROLLOUT_CONFIG,
        variants: ['v-1-0-0', 'v-1-1-0'],
        models: [STABLE_MODEL, CANDIDATE_MODEL],
        action: 'update-issued',
      },
    });
    expect(client.names).toEqual([
      'DescribeEndpoint',
      'CreateModel',
      'CreateModel',
      'CreateEndpointConfig',
      'UpdateEndpoint',
    ]);
    expect(client.calls[0]!.input).toEqual({ EndpointName: SETTINGS.endpointName });
    expect(client.calls[2]!.input).toEqual({
      ModelName: CANDIDATE_MODEL,
      ExecutionRoleArn: SETTINGS.executionRoleArn,
      EnableNetworkIsolation: true,
      PrimaryContainer: {
        Image: SETTINGS.image,
        Mode: 'SingleModel',
        ModelDataUrl: `s3://${SETTINGS.registryBucketName}/models/fraud-score/1.1.0/${SHA[CANDIDATE]}.tar.gz`,
      },
    });
    expect(client.calls[3]!.input).toEqual({
      EndpointConfigName: ROLLOUT_CONFIG,
      ProductionVariants: [
        expect.objectContaining({ VariantName: 'v-1-0-0', ModelName: STABLE_MODEL, InitialVariantWeight: 1 }),
        expect.objectContaining({
          VariantName: 'v-1-1-0',
          ModelName: CANDIDATE_MODEL,
          InitialVariantWeight: 0,
        }),
      ],
      KmsKeyId: SETTINGS.kmsKeyId,
    });
    expect(client.calls[4]!.input).toEqual({
      EndpointName: SETTINGS.endpointName,
      EndpointConfigName: ROLLOUT_CONFIG,
    });

    const updating = await t.pollCandidate(REQ);
    expect(updating).toMatchObject({
      status: 'pending',
      pollSeconds: 60,
      detail: { updatingTo: ROLLOUT_CONFIG },
    });
    const ready = await t.pollCandidate(REQ);
    expect(ready).toMatchObject({
      status: 'ready',
      detail: { endpointConfigName: ROLLOUT_CONFIG, variants: ['v-1-0-0', 'v-1-1-0'], action: 'in-service' },
    });
    expect(client.names.slice(5)).toEqual(['DescribeEndpoint', 'DescribeEndpoint']);
    expect(client.done).toBe(true);
  });

  it('repeats after a crash between the two CreateModel calls: the existing model counts as created', async () => {
    const { client, target: t } = target([
      ['DescribeEndpoint', ok('describe-endpoint-in-service-initial')],
      ['CreateModel', fails('modelAlreadyExists')],
      ['CreateModel', ok('create-model')],
      ['CreateEndpointConfig', ok('create-endpoint-config')],
      ['UpdateEndpoint', ok('update-endpoint')],
    ]);
    expect(await t.deployCandidate(REQ)).toMatchObject({
      status: 'pending',
      detail: { action: 'update-issued' },
    });
    expect(client.done).toBe(true);
  });

  it('repeats after a crash before UpdateEndpoint: everything exists, only the update is sent', async () => {
    const { client, target: t } = target([
      ['DescribeEndpoint', ok('describe-endpoint-in-service-initial')],
      ['CreateModel', fails('modelAlreadyExists')],
      ['CreateModel', fails('modelAlreadyExists')],
      ['CreateEndpointConfig', fails('endpointConfigAlreadyExists')],
      ['UpdateEndpoint', ok('update-endpoint')],
    ]);
    expect(await t.deployCandidate(REQ)).toMatchObject({ status: 'pending' });
    expect(client.calls.at(-1)!.input).toEqual({
      EndpointName: SETTINGS.endpointName,
      EndpointConfigName: ROLLOUT_CONFIG,
    });
    expect(client.done).toBe(true);
  });

  it('repeats after a crash after UpdateEndpoint: the update under way is ours, nothing is sent again', async () => {
    const { client, target: t } = target([['DescribeEndpoint', ok('describe-endpoint-updating')]]);
    expect(await t.deployCandidate(REQ)).toMatchObject({
      status: 'pending',
      detail: { action: 'update-in-progress', updatingTo: ROLLOUT_CONFIG },
    });
    expect(client.names).toEqual(['DescribeEndpoint']);
  });

  it('repeats after the update finished: ready without creating anything', async () => {
    const { client, target: t } = target([
      ['DescribeEndpoint', ok('describe-endpoint-in-service-candidate')],
    ]);
    expect(await t.deployCandidate(REQ)).toMatchObject({ status: 'ready' });
    expect(client.names).toEqual(['DescribeEndpoint']);
  });

  it('smoke-tests the candidate through the router once InService, in every router environment to warm', async () => {
    const warmed: WarmCandidateRequest[] = [];
    const answer = (outcome: 'warmed' | 'smoke-failed', ok: boolean) => async (req: WarmCandidateRequest) => {
      warmed.push(req);
      return { ...req, outcome, loadMs: 3, samples: [{ index: 0, ok, issues: ok ? [] : ['class: 0 ≠ 1'] }] };
    };
    const client = new RecordedSageMaker([
      ['DescribeEndpoint', ok('describe-endpoint-updating')],
      ['DescribeEndpoint', ok('describe-endpoint-in-service-candidate')],
      ['DescribeEndpoint', ok('describe-endpoint-in-service-candidate')],
    ]);
    const smoked = (warm: (req: WarmCandidateRequest) => Promise<unknown>) =>
      new SageMakerRolloutTarget({
        settings: SETTINGS,
        versions: versions(),
        client,
        smoke: { warmer: { warm }, concurrency: 2 },
      });
    // Not while the variant is still coming up: the router would call a variant that is not there.
    expect(await smoked(answer('warmed', true)).pollCandidate(REQ)).toMatchObject({ status: 'pending' });
    expect(warmed).toEqual([]);
    expect(await smoked(answer('warmed', true)).pollCandidate(REQ)).toMatchObject({
      status: 'ready',
      detail: { action: 'in-service', smoke: { smokeSamples: 1, environmentsWarmed: 2 } },
    });
    expect(warmed).toEqual([
      { model: MODEL, version: CANDIDATE },
      { model: MODEL, version: CANDIDATE },
    ]);
    // A candidate SageMaker calls healthy that answers its smoke sample wrongly is not deployed.
    const err = await failure(smoked(answer('smoke-failed', false)).pollCandidate(REQ));
    expect(err.reasonCode).toBe('SMOKE_FAILED');
    expect(client.done).toBe(true);
  });

  it('fails a silent rollback with SILENT_ROLLBACK, naming the config the endpoint went back to', async () => {
    const { target: t } = target([['DescribeEndpoint', ok('describe-endpoint-silent-rollback')]]);
    const err = await failure(t.pollCandidate(REQ));
    expect(err.name).toBe('TargetDeployFailedError');
    expect(err.reasonCode).toBe(SAGEMAKER_FAILURE.silentRollback);
    expect(err.message).toContain(
      `InService on config ${INITIAL_CONFIG}, not the requested ${ROLLOUT_CONFIG}`,
    );
    expect(err.detail).toMatchObject({
      endpointConfigName: INITIAL_CONFIG,
      requestedConfigName: ROLLOUT_CONFIG,
    });
  });

  it('fails a Failed endpoint with its FailureReason in the message and the detail', async () => {
    const { target: t } = target([['DescribeEndpoint', ok('describe-endpoint-failed')]]);
    const err = await failure(t.pollCandidate(REQ));
    expect(err.reasonCode).toBe(SAGEMAKER_FAILURE.endpointFailed);
    expect(err.message).toContain(
      'The primary container for production variant v-1-1-0 did not pass the ping health check',
    );
    expect(err.detail.failureReason).toMatch(/ping health check/);
  });

  it('fails RollingBack at once, rather than waiting for it to end InService on the old config', async () => {
    const { target: t } = target([['DescribeEndpoint', ok('describe-endpoint-rolling-back')]]);
    expect((await failure(t.pollCandidate(REQ))).reasonCode).toBe(SAGEMAKER_FAILURE.rollingBack);
  });

  it('refuses to deploy onto a Failed endpoint without creating anything', async () => {
    const { client, target: t } = target([['DescribeEndpoint', ok('describe-endpoint-failed')]]);
    expect((await failure(t.deployCandidate(REQ))).reasonCode).toBe(SAGEMAKER_FAILURE.endpointFailed);
    expect(client.names).toEqual(['DescribeEndpoint']);
  });

  it('is busy (retryable, nothing changed) while the endpoint updates towards another config', async () => {
    const other = {
      ...fixture('describe-endpoint-updating'),
      PendingDeploymentSummary: { EndpointConfigName: 'x-c-1' },
    };
    const { client, target: t } = target([['DescribeEndpoint', { ok: other }]]);
    await expect(t.deployCandidate(REQ)).rejects.toThrow(TargetBusyError);
    await expect(target([['DescribeEndpoint', { ok: other }]]).target.deployCandidate(REQ)).rejects.toThrow(
      /Updating towards config x-c-1, not this rollout's .*nothing was changed/,
    );
    expect(client.names).toEqual(['DescribeEndpoint']);
  });

  it('is busy when another update starts between DescribeEndpoint and UpdateEndpoint', async () => {
    const { target: t } = target([
      ['DescribeEndpoint', ok('describe-endpoint-in-service-initial')],
      ['CreateModel', ok('create-model')],
      ['CreateModel', ok('create-model')],
      ['CreateEndpointConfig', ok('create-endpoint-config')],
      ['UpdateEndpoint', fails('updateInProgress')],
    ]);
    const err = await t.deployCandidate(REQ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetBusyError);
    expect((err as Error).name).toBe('TargetBusyError');
  });

  it('maps throttling to TransientStoreError, which the ASL retries', async () => {
    const { target: t } = target([
      ['DescribeEndpoint', ok('describe-endpoint-in-service-initial')],
      ['CreateModel', fails('throttling')],
    ]);
    const err = await t.deployCandidate(REQ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientStoreError);
    expect((err as Error).message).toMatch(/CreateModel .* failed transiently \(ThrottlingException/);
  });

  it('fails a missing endpoint with ENDPOINT_NOT_FOUND and the fix', async () => {
    const { target: t } = target([['DescribeEndpoint', fails('endpointNotFound')]]);
    const err = await failure(t.pollCandidate(REQ));
    expect(err.reasonCode).toBe(SAGEMAKER_FAILURE.endpointNotFound);
    expect(err.message).toMatch(/does not exist .*cdk deploy/);
  });

  it('fails a candidate that is not a registered model.tar.gz before calling SageMaker', async () => {
    const onnx = record(CANDIDATE, {
      framework: 'onnx',
      artifactKey: `models/${MODEL}/${CANDIDATE}/${SHA[CANDIDATE]}.onnx`,
    });
    const { client, target: t } = target([], [record(STABLE), onnx]);
    const err = await failure(t.deployCandidate(REQ));
    expect(err.reasonCode).toBe(SAGEMAKER_FAILURE.artifactNotServable);
    expect(err.message).toMatch(
      /fraud-score 1\.1\.0 is a onnx artifact .*not a SageMaker model\.tar\.gz; push it/,
    );
    expect(client.calls).toEqual([]);
    const rejected = target([], [record(STABLE), record(CANDIDATE, { status: 'REJECTED' })]);
    expect((await failure(rejected.target.deployCandidate(REQ))).message).toMatch(
      /is REJECTED, not REGISTERED/,
    );
    const missing = target([], [record(STABLE)]);
    expect((await failure(missing.target.deployCandidate(REQ))).message).toMatch(
      /has no ModelVersions record/,
    );
  });
});

describe('SageMakerRolloutTarget.retire', () => {
  it('after promote: switches to a config with only the candidate, waits, then deletes the rollout config', async () => {
    const { client, target: t } = target([
      ['DescribeEndpoint', ok('describe-endpoint-in-service-candidate')],
      ['CreateModel', fails('modelAlreadyExists')],
      ['CreateEndpointConfig', ok('create-endpoint-config')],
      ['UpdateEndpoint', ok('update-endpoint')],
      ['DescribeEndpoint', ok('describe-endpoint-updating-retire')],
      ['DescribeEndpoint', ok('describe-endpoint-in-service-retired')],
      ['DeleteEndpointConfig', ok('delete-endpoint-config')],
      ['DeleteEndpointConfig', fails('endpointConfigNotFound')],
    ]);
    const keep = { ...REQ, keep: CANDIDATE };
    expect(await t.retire(keep)).toMatchObject({
      status: 'pending',
      pollSeconds: 60,
      detail: { requestedConfigName: KEEP_CANDIDATE_CONFIG, action: 'update-issued', keep: CANDIDATE },
    });
    expect(client.calls[1]!.input).toMatchObject({ ModelName: CANDIDATE_MODEL });
    expect(client.calls[2]!.input).toEqual({
      EndpointConfigName: KEEP_CANDIDATE_CONFIG,
      ProductionVariants: [
        {
          VariantName: 'v-1-1-0',
          ModelName: CANDIDATE_MODEL,
          InitialVariantWeight: 1,
          InstanceType: 'ml.m5.xlarge',
          InitialInstanceCount: 2,
        },
      ],
      KmsKeyId: SETTINGS.kmsKeyId,
    });
    expect(client.calls[3]!.input).toEqual({
      EndpointName: SETTINGS.endpointName,
      EndpointConfigName: KEEP_CANDIDATE_CONFIG,
    });

    expect(await t.retire(keep)).toMatchObject({
      status: 'pending',
      detail: { action: 'wait-for-endpoint' },
    });
    expect(await t.retire(keep)).toMatchObject({
      status: 'ready',
      detail: { action: 'retired', keep: CANDIDATE, deletedConfigs: [ROLLOUT_CONFIG] },
    });
    expect(client.names).toEqual([
      'DescribeEndpoint',
      'CreateModel',
      'CreateEndpointConfig',
      'UpdateEndpoint',
      'DescribeEndpoint',
      'DescribeEndpoint',
      'DeleteEndpointConfig',
      'DeleteEndpointConfig',
    ]);
    // The rollout config, then the loser's single-variant config of an earlier retire; never the one running.
    expect(client.calls.slice(6).map((c) => c.input)).toEqual([
      { EndpointConfigName: ROLLOUT_CONFIG },
      { EndpointConfigName: KEEP_STABLE_CONFIG },
    ]);
    expect(client.done).toBe(true);
  });

  it('is idempotent once retired: a repeat deletes nothing that exists and stays ready', async () => {
    const { client, target: t } = target([
      ['DescribeEndpoint', ok('describe-endpoint-in-service-retired')],
      ['DeleteEndpointConfig', fails('endpointConfigNotFound')],
      ['DeleteEndpointConfig', fails('endpointConfigNotFound')],
    ]);
    expect(await t.retire({ ...REQ, keep: CANDIDATE })).toMatchObject({
      status: 'ready',
      detail: { deletedConfigs: [] },
    });
    expect(client.done).toBe(true);
  });

  it('after a rollback whose candidate never came up (silent rollback): no update, only cleanup', async () => {
    const { client, target: t } = target([
      ['DescribeEndpoint', ok('describe-endpoint-silent-rollback')],
      ['DeleteEndpointConfig', ok('delete-endpoint-config')],
      ['DeleteEndpointConfig', fails('endpointConfigNotFound')],
    ]);
    expect(await t.retire({ ...REQ, keep: STABLE })).toMatchObject({
      status: 'ready',
      detail: { endpointConfigName: INITIAL_CONFIG, deletedConfigs: [ROLLOUT_CONFIG] },
    });
    expect(client.names).not.toContain('UpdateEndpoint');
    expect(client.calls.slice(1).map((c) => c.input)).toEqual([
      { EndpointConfigName: ROLLOUT_CONFIG },
      { EndpointConfigName: KEEP_CANDIDATE_CONFIG },
    ]);
  });

  it('waits while the endpoint is still updating or rolling back (a rollback can cut a deploy short)', async () => {
    for (const name of ['describe-endpoint-updating', 'describe-endpoint-rolling-back']) {
      const { client, target: t } = target([['DescribeEndpoint', ok(name)]]);
      expect(await t.retire({ ...REQ, keep: STABLE })).toMatchObject({
        status: 'pending',
        detail: { action: 'wait-for-endpoint' },
      });
      expect(client.names).toEqual(['DescribeEndpoint']);
    }
  });

  it('fails on a Failed endpoint with its FailureReason', async () => {
    const { target: t } = target([['DescribeEndpoint', ok('describe-endpoint-failed')]]);
    const err = await failure(t.retire({ ...REQ, keep: STABLE }));
    expect(err.reasonCode).toBe(SAGEMAKER_FAILURE.endpointFailed);
    expect(err.message).toContain('ping health check');
  });

  it('rejects a keep that is neither stable nor candidate', async () => {
    const { client, target: t } = target([]);
    await expect(t.retire({ ...REQ, keep: '9.9.9' })).rejects.toThrow(
      /keep must be the stable \("1\.0\.0"\) or the candidate \("1\.1\.0"\) version, got "9\.9\.9"/,
    );
    expect(client.calls).toEqual([]);
  });
});
