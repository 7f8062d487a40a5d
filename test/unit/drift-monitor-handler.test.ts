/** The deployed drift monitor's handler: DRIFT_MODELS validation, metrics per dimension set, logs, model isolation. */
import { describe, expect, it } from 'vitest';
import type { DriftConfig } from '../../lambdas/core/drift-monitor';
import {
  DRIFT_MODELS_ENV,
  driftModelsEnvValue,
  parseDriftModels,
  runTimeOf,
  type DriftModel,
} from '../../lambdas/core/drift-schedule';
import { ConfigurationError, InvalidEventError } from '../../lambdas/core/errors';
import type {
  DeploymentRecord,
  DomainEvent,
  MetricDatum,
  MetricDimensions,
  MetricsSink,
  StructuredLogger,
  VersionRecord,
} from '../../lambdas/core/ports';
import {
  driftMonitorHandler,
  wireFromEnv,
  type DriftMonitorWiring,
} from '../../lambdas/drift-monitor/handler';
import { FakeAuditLog, FakeDeploymentStore, FakeRegistry, FakeVersionStore } from './fakes';
import { tinyManifest } from './manifest-fixtures';
import { MemoryDriftCounters, MemoryMonitorState } from './memory-monitor-ports';

const MIN = 60_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const DRIFT: DriftConfig = {
  enabled: true,
  windowMinutes: 10,
  minLiveCount: 100,
  thresholds: { jsDistance: 0.1, psi: 0.2 },
  datasetDriftShare: 0.5,
  persistence: { m: 1, n: 2 },
  cooldownMinutes: 0,
};
// The fixture's x1 baseline is [10, 40, 40, 10]; this live window is far from it.
const SHIFTED = [10, 40, 400, 550];

class RecordingSink implements MetricsSink {
  readonly emitted: { sets: readonly MetricDimensions[]; data: readonly MetricDatum[] }[] = [];
  flushes = 0;
  emit(sets: readonly MetricDimensions[], data: readonly MetricDatum[]): void {
    this.emitted.push({ sets, data });
  }
  flush(): void {
    this.flushes++;
  }
  /** `name {k=v,…}` = value, one line per datum. */
  lines(): string[] {
    return this.emitted.flatMap(({ sets, data }) =>
      sets.flatMap((s) =>
        data.map(
          (d) =>
            `${d.name} {${Object.entries(s)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')}} = ${d.value}`,
        ),
      ),
    );
  }
}

class RecordingLogger implements StructuredLogger {
  readonly lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  debug = (message: string, fields: Record<string, unknown>) =>
    void this.lines.push({ level: 'debug', message, fields });
  info = (message: string, fields: Record<string, unknown>) =>
    void this.lines.push({ level: 'info', message, fields });
  warn = (message: string, fields: Record<string, unknown>) =>
    void this.lines.push({ level: 'warn', message, fields });
  error = (message: string, fields: Record<string, unknown>) =>
    void this.lines.push({ level: 'error', message, fields });
}

/** Two served models (`alpha`, `beta`) with a registered baseline and shifted traffic, plus `orphan` with no stable. */
async function fixture(models: readonly DriftModel[]) {
  const deployments = new FakeDeploymentStore();
  const versions = new FakeVersionStore();
  const registry = new FakeRegistry();
  const counters = new MemoryDriftCounters();
  const published: DomainEvent[] = [];
  for (const model of ['alpha', 'beta']) {
    const manifestKey = `models/${model}/1.0.0/manifest.json`;
    registry.put(manifestKey, JSON.stringify({ ...tinyManifest(), name: model, version: '1.0.0' }));
    versions.records.set(`${model}#1.0.0`, {
      model,
      version: '1.0.0',
      status: 'REGISTERED',
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
      manifestKey,
    } as VersionRecord);
    deployments.records.set(model, {
      model,
      stable: '1.0.0',
      weight: 0,
      mode: 'canary',
      revision: 1,
      updatedAt: '2026-01-01T00:00:00Z',
    } satisfies DeploymentRecord);
    await counters.addCounts(model, '1.0.0', T0, {
      features: { x1: { counts: SHIFTED, missing: 0 } },
      total: SHIFTED.reduce((a, c) => a + c, 0),
    });
  }
  const sink = new RecordingSink();
  const audit = new FakeAuditLog();
  const wiring: DriftMonitorWiring = {
    models,
    metrics: sink,
    deps: {
      deployments,
      versions,
      registry,
      counters,
      monitorState: new MemoryMonitorState(),
      events: { publish: async (e) => void published.push(e) },
      audit,
    },
  };
  return { wiring, sink, audit, published, versions };
}

const model = (name: string, drift: Partial<DriftConfig> = {}): DriftModel => ({
  name,
  drift: { ...DRIFT, ...drift },
});
/** An EventBridge scheduled event whose window ends 10 minutes after T0. */
const scheduled = {
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  time: new Date(T0 + 10 * MIN).toISOString(),
};

describe('DRIFT_MODELS', () => {
  it('round-trips what the construct writes: equal settings in one group, without flushSeconds', () => {
    const models = [
      { name: 'alpha', drift: { ...DRIFT, flushSeconds: 10 } as DriftConfig },
      model('beta', { thresholds: { jsDistance: 0.2 } }),
      { name: 'gamma', drift: { ...DRIFT, flushSeconds: 60 } as DriftConfig },
    ];
    const value = driftModelsEnvValue(models);
    expect(value).not.toContain('flushSeconds');
    expect(JSON.parse(value)).toEqual([
      { models: ['alpha', 'gamma'], drift: DRIFT },
      { models: ['beta'], drift: { ...DRIFT, thresholds: { jsDistance: 0.2 } } },
    ]);
    expect(parseDriftModels(value)).toEqual([
      { name: 'alpha', drift: DRIFT },
      { name: 'gamma', drift: DRIFT },
      { name: 'beta', drift: { ...DRIFT, thresholds: { jsDistance: 0.2 } } },
    ]);
  });

  it('stays small for a fleet on common settings', () => {
    const fleet = Array.from({ length: 50 }, (_, i) => model(`model-${i}`));
    expect(Buffer.byteLength(driftModelsEnvValue(fleet))).toBeLessThan(800);
  });

  const group = (drift: unknown, models: unknown = ['alpha']) => JSON.stringify([{ models, drift }]);
  it.each([
    [undefined, /DRIFT_MODELS is not set; the stack writes it from modelops.config.ts models\[\].drift/],
    ['', /DRIFT_MODELS is not set/],
    ['{not json', /DRIFT_MODELS is not valid JSON/],
    ['{}', /DRIFT_MODELS is invalid: \(value\): must be a JSON array of \{ models, drift \}/],
    [group(DRIFT, ['Bad_Name']), /\[0\]\.models\[0\]: must be 1-64 characters/],
    [group(DRIFT, []), /\[0\]\.models: must list at least one model/],
    [JSON.stringify([{ models: ['alpha'] }]), /\[0\]\.drift: is required/],
    [group({ ...DRIFT, persistence: { m: 3, n: 2 } }), /\[0\]\.drift\.persistence\.m: m must not exceed n/],
    [group({ ...DRIFT, windowMinutes: 0.5 }), /\[0\]\.drift\.windowMinutes: must be a whole number/],
    [group({ ...DRIFT, datasetDriftShare: 2 }), /\[0\]\.drift\.datasetDriftShare: must be at most 1/],
    [group({ ...DRIFT, thresholds: { psi: -1 } }), /\[0\]\.drift\.thresholds\.psi: must be > 0/],
    [group({ ...DRIFT, extra: 1 }), /\[0\]\.drift: .*extra/],
    [
      JSON.stringify([
        { models: ['alpha'], drift: DRIFT },
        { models: ['beta', 'alpha'], drift: DRIFT },
      ]),
      /\[1\]\.models\[1\]: duplicates model "alpha"/,
    ],
  ])('refuses %j naming the field and the fix', (raw, message) => {
    expect(() => parseDriftModels(raw)).toThrow(ConfigurationError);
    expect(() => parseDriftModels(raw)).toThrow(message);
    expect(() => parseDriftModels(raw)).toThrow(/fix the config and redeploy/);
  });

  it('fails the first invocation with the variable named and logged, before touching any store', async () => {
    const env = { POWERTOOLS_METRICS_NAMESPACE: 'ModelOps', [DRIFT_MODELS_ENV]: '[{"models":["alpha"]}]' };
    const log = new RecordingLogger();
    const handler = driftMonitorHandler({ wire: () => wireFromEnv(env), logger: log });
    await expect(handler(scheduled)).rejects.toThrow(/DRIFT_MODELS is invalid: \[0\]\.drift: is required/);
    expect(log.lines).toEqual([
      {
        level: 'error',
        message: 'drift monitor cannot run',
        fields: {
          error: expect.stringMatching(/^ConfigurationError: environment variable DRIFT_MODELS is invalid/),
        },
      },
    ]);
  });

  it('names each missing table or bucket variable', () => {
    const base = {
      POWERTOOLS_METRICS_NAMESPACE: 'ModelOps',
      [DRIFT_MODELS_ENV]: driftModelsEnvValue([model('alpha')]),
    };
    expect(() => wireFromEnv(base)).toThrow(/DEPLOYMENTS_TABLE is not set/);
    const all = {
      ...base,
      DEPLOYMENTS_TABLE: 'd',
      MODEL_VERSIONS_TABLE: 'v',
      REGISTRY_BUCKET: 'b',
      DRIFT_COUNTERS_TABLE: 'c',
      MONITOR_STATE_TABLE: 's',
      AUDIT_LOG_TABLE: 'a',
    };
    expect(() => wireFromEnv(all)).not.toThrow();
    for (const name of [
      'MODEL_VERSIONS_TABLE',
      'REGISTRY_BUCKET',
      'DRIFT_COUNTERS_TABLE',
      'MONITOR_STATE_TABLE',
      'AUDIT_LOG_TABLE',
      'POWERTOOLS_METRICS_NAMESPACE',
    ]) {
      expect(() => wireFromEnv({ ...all, [name]: '' }), name).toThrow(new RegExp(`${name} is not set`));
    }
  });
});

describe('runTimeOf', () => {
  it("judges the scheduled event's time, or now without one; refuses a bad time", () => {
    expect(runTimeOf(scheduled, 1)).toBe(T0 + 10 * MIN);
    expect(runTimeOf({}, 42)).toBe(42);
    expect(runTimeOf(undefined, 42)).toBe(42);
    expect(() => runTimeOf({ time: 'yesterday' }, 1)).toThrow(InvalidEventError);
    expect(() => runTimeOf({ time: 7 }, 1)).toThrow(/event field "time" must be an ISO 8601 timestamp/);
  });
});

describe('drift monitor handler', () => {
  it('emits every outcome metric under {Model} and {Model, Feature}, logs each outcome, flushes', async () => {
    const f = await fixture([model('alpha'), model('orphan'), model('beta', { enabled: false })]);
    const log = new RecordingLogger();
    const handler = driftMonitorHandler({ wire: () => f.wiring, logger: log, now: () => 0 });

    const outcomes = await handler(scheduled);

    expect(outcomes.map((o) => `${o.model}:${o.kind}`)).toEqual(['alpha:judged', 'orphan:skipped']);
    expect(f.sink.lines().sort()).toEqual(
      [
        'DriftWindowCount {Model=alpha} = 1000',
        'DriftInsufficientData {Model=alpha} = 0',
        'DriftAlarm {Model=alpha} = 1',
        'DatasetDriftShare {Model=alpha} = 1',
        expect.stringMatching(/^FeatureDriftJsDistance \{Model=alpha,Feature=x1\} = 0\.\d+$/),
        expect.stringMatching(/^FeatureDriftPsi \{Model=alpha,Feature=x1\} = \d+\.\d+$/),
        'DriftMonitorErrors {Model=alpha} = 0',
        'DriftMonitorErrors {Model=orphan} = 0',
      ].sort(),
    );
    // One dimension set per emitted group: {Model} and {Model, Feature} never share a blob.
    for (const { sets } of f.sink.emitted) expect(sets).toHaveLength(1);
    expect(f.sink.flushes).toBeGreaterThan(0);

    expect(log.lines.find((l) => l.fields.model === 'orphan')).toEqual({
      level: 'info',
      message: 'drift monitor skipped model',
      fields: { model: 'orphan', reason: 'no stable version in Deployments' },
    });
    expect(log.lines.find((l) => l.fields.model === 'alpha')).toEqual({
      level: 'warn',
      message: 'drift detected: model entered ALARM',
      fields: {
        model: 'alpha',
        version: '1.0.0',
        windowStart: '2026-01-01T00:00:00.000Z',
        windowEnd: '2026-01-01T00:10:00.000Z',
        verdict: 'evaluated',
        liveCount: 1000,
        share: 1,
        driftedFeatures: ['x1'],
        status: 'ALARM',
        transition: 'raised',
        written: true,
        itemsRead: 1,
      },
    });
    expect(f.published.map((e) => e.detailType)).toEqual(['ModelDriftDetected']);
    expect(f.audit.types()).toEqual(['DRIFT_DETECTED']);
    expect(f.audit.events[0]?.actor).toBe('drift-monitor');
  });

  it('logs insufficient data with the minimum and no share, and emits no drift score', async () => {
    const f = await fixture([model('alpha', { minLiveCount: 5_000 })]);
    const log = new RecordingLogger();
    await driftMonitorHandler({ wire: () => f.wiring, logger: log })(scheduled);
    expect(log.lines[0]).toMatchObject({
      level: 'info',
      message: 'drift monitor judged model',
      fields: { model: 'alpha', verdict: 'insufficient-data', liveCount: 1000, minimum: 5000, status: 'OK' },
    });
    expect(log.lines[0]?.fields).not.toHaveProperty('share');
    expect(f.sink.lines()).toContain('DriftInsufficientData {Model=alpha} = 1');
    expect(f.sink.lines().some((l) => l.startsWith('DatasetDriftShare'))).toBe(false);
  });

  it('a failing model is logged and counted, and the others still run; the invocation succeeds', async () => {
    const f = await fixture([model('alpha'), model('beta')]);
    const versions = f.versions;
    const getVersion = versions.getVersion.bind(versions);
    versions.getVersion = async (m, v) => {
      if (m === 'alpha') throw new Error('ProvisionedThroughputExceeded');
      return getVersion(m, v);
    };
    const log = new RecordingLogger();
    const outcomes = await driftMonitorHandler({ wire: () => f.wiring, logger: log })(scheduled);

    expect(outcomes.map((o) => `${o.model}:${o.kind}`)).toEqual(['beta:judged']);
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([
      {
        level: 'error',
        message: 'drift monitor failed for a model',
        fields: { model: 'alpha', error: 'Error: ProvisionedThroughputExceeded' },
      },
    ]);
    expect(f.sink.lines()).toEqual(
      expect.arrayContaining(['DriftMonitorErrors {Model=alpha} = 1', 'DriftMonitorErrors {Model=beta} = 0']),
    );
    expect(f.sink.lines().some((l) => l.startsWith('DriftAlarm {Model=beta}'))).toBe(true);
    expect(f.sink.lines().some((l) => l.startsWith('DriftAlarm {Model=alpha}'))).toBe(false);
  });

  it('wires once per environment', async () => {
    const f = await fixture([model('alpha')]);
    let wired = 0;
    const handler = driftMonitorHandler({
      wire: () => {
        wired++;
        return f.wiring;
      },
      logger: new RecordingLogger(),
    });
    await handler(scheduled);
    await handler({ ...scheduled, time: new Date(T0 + 20 * MIN).toISOString() });
    expect(wired).toBe(1);
  });
});
