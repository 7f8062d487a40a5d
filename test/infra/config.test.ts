import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_CANARY,
  DEFAULT_RETRAIN,
  DEFAULT_DRIFT,
  DEFAULT_FEEDBACK,
  DEFAULT_SLO,
  parseConfig,
} from '../../lib/config';

const minimal = { models: [{ name: 'breast-cancer', owner: 'ml-platform' }] };

function issuesOf(raw: unknown): readonly string[] {
  try {
    parseConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).name).toBe('ConfigError');
    return (e as ConfigError).issues;
  }
  throw new Error('expected parseConfig to throw');
}

describe('parseConfig', () => {
  it('applies every default to a minimal config', () => {
    expect(parseConfig(minimal)).toEqual({
      project: 'modelops',
      stage: 'dev',
      env: {},
      registry: {
        maxArtifactBytes: 512 * 1024 * 1024,
        incomingExpirationDays: 14,
        noncurrentVersionExpirationDays: 90,
        captureExpirationDays: 90,
        objectLock: { mode: 'GOVERNANCE', days: 365 },
      },
      retention: { logDays: 365, accessLogDays: 365 },
      release: { reservedConcurrency: 5 },
      monitoring: { namespace: 'ModelOps', driftScheduleMinutes: 10 },
      models: [
        {
          name: 'breast-cancer',
          owner: 'ml-platform',
          target: 'lambda',
          riskTier: 'medium',
          approvalTimeoutSeconds: 86_400,
          memoryMb: 1024,
          timeoutSeconds: 10,
          provisionedConcurrency: { min: 0, max: 0, targetUtilization: 0.7 },
          inference: {
            routingCacheTtlSeconds: 5,
            maxBodyBytes: 1024 * 1024,
            maxBatch: 64,
            capture: { sampleRate: 0, batchRecords: 100 },
          },
          slo: DEFAULT_SLO,
          drift: DEFAULT_DRIFT,
          feedback: DEFAULT_FEEDBACK,
          canary: { ...DEFAULT_CANARY, steps: [...DEFAULT_CANARY.steps], judge: {} },
          retrain: {
            enabled: DEFAULT_RETRAIN.enabled,
            cooldownMinutes: DEFAULT_RETRAIN.cooldownMinutes,
            dailyCap: DEFAULT_RETRAIN.dailyCap,
            backoffMinutes: DEFAULT_RETRAIN.backoffMinutes,
            dataWindowDays: DEFAULT_RETRAIN.dataWindowDays,
          },
        },
      ],
    });
  });

  it('accepts the repository modelops.config.ts', async () => {
    const { default: raw } = await import('../../modelops.config');
    expect(parseConfig(raw).models.map((m) => m.name)).toEqual(['breast-cancer', 'credit-risk']);
  });

  it('rejects a bad pattern naming the field and value', () => {
    expect(issuesOf({ ...minimal, project: 'Bad_Name' })).toEqual([
      expect.stringMatching(/^project: .*"Bad_Name"/),
    ]);
    expect(issuesOf({ ...minimal, env: { region: 'moon-1' } })).toEqual([
      expect.stringMatching(/^env\.region: must be an AWS region.*"moon-1"/),
    ]);
  });

  it('rejects out-of-range numbers naming the field and value', () => {
    expect(issuesOf({ ...minimal, registry: { incomingExpirationDays: 0 } })).toEqual([
      expect.stringMatching(/registry\.incomingExpirationDays: must be at least 1 days \(got 0\)/),
    ]);
    expect(issuesOf({ ...minimal, retention: { logDays: 42 } })).toEqual([
      expect.stringMatching(
        /retention\.logDays: must be one of CloudWatch Logs' retention periods.*\(got 42\)/,
      ),
    ]);
  });

  it('rejects a wrong type and an unknown key', () => {
    const issues = issuesOf({ ...minimal, stage: 7, colour: 'blue' });
    expect(issues).toContain('stage: expected a string, got the number 7');
    expect(issues.some((i) => i.includes('"colour" is not a field of (config)'))).toBe(true);
  });

  it('rejects missing and duplicate models naming the index', () => {
    expect(issuesOf({})).toEqual([expect.stringMatching(/^models: .*\(got nothing\)/)]);
    expect(issuesOf({ models: [] })).toEqual([expect.stringMatching(/^models: list at least one model/)]);
    const dup = issuesOf({ models: [minimal.models[0], minimal.models[0]] });
    expect(dup).toEqual([expect.stringMatching(/^models\[1\]\.name: duplicates model "breast-cancer"/)]);
  });

  it('rejects a bad model entry naming the nested field', () => {
    const issues = issuesOf({ models: [{ name: 'breast-cancer', owner: ' ', memoryMb: 64 }] });
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^models\[0\]\.owner: must name the owning team/),
        expect.stringMatching(/^models\[0\]\.memoryMb: must be at least 128 MB \(got 64\)/),
      ]),
    );
  });

  it('rejects a bad alarm e-mail', () => {
    expect(issuesOf({ ...minimal, alarmEmail: 'oncall' })).toEqual([
      expect.stringMatching(/^alarmEmail: must be an e-mail address.*\(got "oncall"\)/),
    ]);
  });

  it('rejects a monitoring namespace CloudWatch would refuse', () => {
    expect(issuesOf({ ...minimal, monitoring: { namespace: 'AWS/Lambda' } })).toEqual([
      expect.stringMatching(/^monitoring\.namespace: must be 1-255 characters.*\(got "AWS\/Lambda"\)/),
    ]);
    expect(issuesOf({ ...minimal, monitoring: { namespace: ' Lead' } })).toHaveLength(1);
    expect(parseConfig({ ...minimal, monitoring: { namespace: 'Acme/ModelOps' } }).monitoring).toEqual({
      namespace: 'Acme/ModelOps',
      driftScheduleMinutes: 10,
    });
  });
});

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgboost-inference:1.7-1';
const sagemaker = {
  image: IMAGE,
  modelDataKey: 'models/breast-cancer/2.0.0/0a1b.tar.gz',
  version: '2.0.0',
};
const withModel = (extra: Record<string, unknown>) => ({
  models: [{ name: 'breast-cancer', owner: 'ml-platform', ...extra }],
});

describe('parseConfig: serving settings', () => {
  it('accepts provisioned concurrency, reserved concurrency and inference settings', () => {
    const [model] = parseConfig(
      withModel({
        reservedConcurrency: 20,
        provisionedConcurrency: { min: 2, max: 10, targetUtilization: 0.5 },
        inference: { routingCacheTtlSeconds: 1, capture: { sampleRate: 0.25 } },
      }),
    ).models;
    expect(model).toMatchObject({
      reservedConcurrency: 20,
      provisionedConcurrency: { min: 2, max: 10, targetUtilization: 0.5 },
      inference: {
        routingCacheTtlSeconds: 1,
        maxBodyBytes: 1024 * 1024,
        maxBatch: 64,
        capture: { sampleRate: 0.25, batchRecords: 100 },
      },
    });
  });

  it('rejects min above max and a target utilization outside 0.1-0.9', () => {
    expect(
      issuesOf(withModel({ provisionedConcurrency: { min: 5, max: 2, targetUtilization: 0.95 } })),
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^models\[0\]\.provisionedConcurrency\.min: must not exceed max \(2\).*\(got 5\)/,
        ),
        expect.stringMatching(
          /^models\[0\]\.provisionedConcurrency\.targetUtilization: must be between 0\.1 and 0\.9 \(got 0\.95\)/,
        ),
      ]),
    );
  });

  it('rejects scaling from min 0 and a max above 1000', () => {
    expect(issuesOf(withModel({ provisionedConcurrency: { min: 0, max: 4 } }))).toEqual([
      expect.stringMatching(/^models\[0\]\.provisionedConcurrency\.min: must be at least 1 when max > 0/),
    ]);
    expect(issuesOf(withModel({ provisionedConcurrency: { min: 1, max: 1001 } }))).toEqual([
      expect.stringMatching(/^models\[0\]\.provisionedConcurrency\.max: must be at most 1000 .*\(got 1001\)/),
    ]);
  });

  it('rejects provisioned concurrency above the reserved concurrency', () => {
    expect(
      issuesOf(withModel({ reservedConcurrency: 3, provisionedConcurrency: { min: 1, max: 4 } })),
    ).toEqual([
      expect.stringMatching(
        /^models\[0\]\.provisionedConcurrency\.max: must not exceed reservedConcurrency \(3\)/,
      ),
    ]);
    expect(issuesOf(withModel({ reservedConcurrency: 0 }))).toEqual([
      expect.stringMatching(/^models\[0\]\.reservedConcurrency: must be at least 1 executions \(got 0\)/),
    ]);
  });

  it('rejects inference limits out of range naming each field', () => {
    const issues = issuesOf(
      withModel({
        inference: {
          routingCacheTtlSeconds: -1,
          maxBodyBytes: 7 * 1024 * 1024,
          maxBatch: 0,
          capture: { sampleRate: 1.5, batchRecords: 0 },
        },
      }),
    );
    expect(issues).toEqual([
      expect.stringMatching(
        /^models\[0\]\.inference\.routingCacheTtlSeconds: must be between 0 and 300 \(got -1\)/,
      ),
      expect.stringMatching(/^models\[0\]\.inference\.maxBodyBytes: must be at most 6291456 bytes/),
      expect.stringMatching(/^models\[0\]\.inference\.maxBatch: must be at least 1 instances \(got 0\)/),
      expect.stringMatching(
        /^models\[0\]\.inference\.capture\.sampleRate: must be between 0 and 1 \(got 1\.5\)/,
      ),
      expect.stringMatching(
        /^models\[0\]\.inference\.capture\.batchRecords: must be at least 1 records \(got 0\)/,
      ),
    ]);
  });
});

describe('parseConfig: sagemaker target', () => {
  it('applies the realtime variant defaults', () => {
    const [model] = parseConfig(withModel({ target: 'sagemaker', sagemaker })).models;
    expect(model?.sagemaker).toEqual({
      ...sagemaker,
      variant: { kind: 'realtime', instanceType: 'ml.m5.large', initialInstanceCount: 1 },
    });
  });

  it('accepts a serverless variant with provisioned concurrency', () => {
    const variant = {
      kind: 'serverless',
      memorySizeInMb: 2048,
      maxConcurrency: 20,
      provisionedConcurrency: 5,
    };
    const [model] = parseConfig(
      withModel({ target: 'sagemaker', sagemaker: { ...sagemaker, variant } }),
    ).models;
    expect(model?.sagemaker?.variant).toEqual(variant);
  });

  it('rejects a sagemaker target without its sagemaker block, naming the fix', () => {
    expect(issuesOf(withModel({ target: 'sagemaker' }))).toEqual([
      expect.stringMatching(
        /^models\[0\]\.sagemaker: is required when target is "sagemaker": add sagemaker: \{ image, modelDataKey, version, variant \}.*\(got nothing\)/,
      ),
    ]);
  });

  it('rejects a sagemaker block on a lambda model', () => {
    expect(issuesOf(withModel({ sagemaker }))).toEqual([
      expect.stringMatching(
        /^models\[0\]\.sagemaker: is only allowed when target is "sagemaker" .*remove it/,
      ),
    ]);
  });

  it('rejects an image that is not in ECR and a model data key outside models/', () => {
    const issues = issuesOf(
      withModel({
        target: 'sagemaker',
        sagemaker: {
          ...sagemaker,
          image: 'docker.io/library/nginx:latest',
          modelDataKey: 'incoming/x.tar.gz',
        },
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^models\[0\]\.sagemaker\.image: must be an ECR image URI.*\(got "docker\.io/),
        expect.stringMatching(
          /^models\[0\]\.sagemaker\.modelDataKey: must be the key of a registered artifact under models\//,
        ),
      ]),
    );
  });

  it('rejects model data of another version than the one served', () => {
    expect(
      issuesOf(withModel({ target: 'sagemaker', sagemaker: { ...sagemaker, version: '3.0.0' } })),
    ).toEqual([
      expect.stringMatching(
        /^models\[0\]\.sagemaker\.modelDataKey: must be the registered artifact of the version it serves, under models\/breast-cancer\/3\.0\.0\//,
      ),
    ]);
  });

  it('rejects bad serverless sizes and provisioned concurrency above maxConcurrency', () => {
    const issues = issuesOf(
      withModel({
        target: 'sagemaker',
        sagemaker: {
          ...sagemaker,
          variant: { kind: 'serverless', memorySizeInMb: 1500, maxConcurrency: 4, provisionedConcurrency: 5 },
        },
      }),
    );
    expect(issues).toEqual([
      expect.stringMatching(
        /^models\[0\]\.sagemaker\.variant\.memorySizeInMb: must be a multiple of 1024 MB/,
      ),
      expect.stringMatching(
        /^models\[0\]\.sagemaker\.variant\.provisionedConcurrency: must not exceed maxConcurrency \(4\).*\(got 5\)/,
      ),
    ]);
    expect(
      issuesOf(withModel({ target: 'sagemaker', sagemaker: { ...sagemaker, variant: { kind: 'batch' } } })),
    ).toEqual([
      expect.stringMatching(
        /^models\[0\]\.sagemaker\.variant\.kind: must have kind "realtime" or "serverless"/,
      ),
    ]);
    expect(
      issuesOf(
        withModel({
          target: 'sagemaker',
          sagemaker: {
            ...sagemaker,
            variant: { kind: 'serverless', memorySizeInMb: 8192, maxConcurrency: 201 },
          },
        }),
      ),
    ).toEqual([
      expect.stringMatching(/memorySizeInMb: must be at most 6144 MB \(got 8192\)/),
      expect.stringMatching(/maxConcurrency: must be at most 200 invocations \(got 201\)/),
    ]);
  });
});

describe('parseConfig: registry protection', () => {
  it('accepts COMPLIANCE mode and an uploader role for account roots, roles and users', () => {
    const config = parseConfig({
      ...minimal,
      registry: {
        objectLock: { mode: 'COMPLIANCE', days: 30 },
        uploaderRole: {
          principalArns: [
            'arn:aws:iam::123456789012:root',
            'arn:aws:iam::123456789012:role/ci/push',
            'arn:aws:iam::123456789012:user/alice',
          ],
        },
      },
    });
    expect(config.registry.objectLock).toEqual({ mode: 'COMPLIANCE', days: 30 });
    expect(config.registry.uploaderRole?.principalArns).toHaveLength(3);
  });

  it('rejects an unknown lock mode and a retention outside 1-36500 days', () => {
    expect(issuesOf({ ...minimal, registry: { objectLock: { mode: 'LEGAL_HOLD' } } })).toEqual([
      expect.stringMatching(
        /^registry\.objectLock\.mode: must be "GOVERNANCE" or "COMPLIANCE" \(got "LEGAL_HOLD"\)/,
      ),
    ]);
    expect(issuesOf({ ...minimal, registry: { objectLock: { days: 0 } } })).toEqual([
      expect.stringMatching(/^registry\.objectLock\.days: must be at least 1 days \(got 0\)/),
    ]);
    expect(issuesOf({ ...minimal, registry: { objectLock: { days: 40_000 } } })).toEqual([
      expect.stringMatching(/^registry\.objectLock\.days: must be at most 36500 days/),
    ]);
  });

  it('rejects an uploader role with no principal or a principal that is not an IAM ARN', () => {
    expect(issuesOf({ ...minimal, registry: { uploaderRole: { principalArns: [] } } })).toEqual([
      expect.stringMatching(/^registry\.uploaderRole\.principalArns: list at least one principal ARN/),
    ]);
    expect(issuesOf({ ...minimal, registry: { uploaderRole: { principalArns: ['123456789012'] } } })).toEqual(
      [expect.stringMatching(/^registry\.uploaderRole\.principalArns\[0\]: must be an IAM principal ARN/)],
    );
  });
});
