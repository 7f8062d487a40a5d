import { MetricResolution, Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PowertoolsMetricsSink, splitDimensionSets } from '../../lambdas/adapters/powertools-metrics-sink';
import type { MetricDatum, MetricDimensions } from '../../lambdas/core/ports';

interface EmfBlob {
  readonly _aws: {
    readonly Timestamp: number;
    readonly CloudWatchMetrics: { readonly Dimensions: string[][]; readonly Metrics: unknown[] }[];
  };
  readonly [key: string]: unknown;
}

/** A sink over a real Metrics instance whose EMF lines and warnings are captured instead of printed. */
function capturingSink(): { sink: PowertoolsMetricsSink; blobs: () => EmfBlob[]; warnings: string[] } {
  const warnings: string[] = [];
  const lines: string[] = [];
  const quiet = () => undefined;
  const logger = {
    debug: quiet,
    info: quiet,
    error: quiet,
    warn: (...args: unknown[]) => warnings.push(args.map(String).join(' ')),
  };
  const metrics = new Metrics({ namespace: 'ModelOpsTest', serviceName: 'inference', logger });
  // Powertools writes EMF through its own Console; capture the lines instead.
  (metrics as unknown as { console: Pick<Console, 'log'> }).console = {
    log: (line: unknown) => void lines.push(String(line)),
  };
  return {
    sink: new PowertoolsMetricsSink({ namespace: 'ModelOpsTest', metrics }),
    blobs: () => lines.map((l) => JSON.parse(l) as EmfBlob),
    warnings,
  };
}

describe('PowertoolsMetricsSink dimension sets', () => {
  beforeEach(() => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('fails if publishing {Model, Version} and {Model} makes Powertools warn about a duplicated EMF key', () => {
    const { sink, blobs, warnings } = capturingSink();
    const dims: MetricDimensions[] = [{ Model: 'm', Version: '1' }, { Model: 'm' }];
    for (let i = 0; i < 3; i++) {
      sink.emit(dims, [
        { name: 'Requests', unit: 'Count', value: 1 },
        { name: 'Latency', unit: 'Milliseconds', value: 2.5, highResolution: true },
      ]);
      sink.flush();
    }
    expect(warnings).toEqual([]);
    const out = blobs();
    expect(out).toHaveLength(3);
    for (const blob of out) {
      expect(blob._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['Model', 'Version'], ['Model']]);
      expect(blob).toMatchObject({ Model: 'm', Version: '1', Requests: 1, Latency: 2.5 });
      expect(blob).not.toHaveProperty('service');
    }
  });

  it('keeps groups of different versions and dimension shapes apart, without warnings', () => {
    const { sink, blobs, warnings } = capturingSink();
    sink.emit(
      [{ Model: 'm', Version: '1' }, { Model: 'm' }],
      [{ name: 'Requests', unit: 'Count', value: 1 }],
    );
    sink.emit(
      [{ Model: 'm', Version: '2' }, { Model: 'm' }],
      [{ name: 'ShadowDisagreement', unit: 'Count', value: 1 }],
    );
    sink.emit([{ Model: 'm' }], [{ name: 'InvalidInput', unit: 'Count', value: 1 }]);
    sink.flush();
    expect(warnings).toEqual([]);
    const [a, b, c] = blobs() as [EmfBlob, EmfBlob, EmfBlob];
    expect(a).toMatchObject({ Model: 'm', Version: '1', Requests: 1 });
    expect(b).toMatchObject({ Model: 'm', Version: '2', ShadowDisagreement: 1 });
    expect(b._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['Model', 'Version'], ['Model']]);
    expect(c._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['Model']]);
    expect(c).not.toHaveProperty('Version');
    // Default dimensions are per blob: nothing leaks into a later flush.
    sink.emit([{ Other: 'x' }], [{ name: 'Requests', unit: 'Count', value: 1 }]);
    sink.flush();
    const last = blobs().at(-1)!;
    expect(last._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['Other']]);
    expect(last).not.toHaveProperty('Model');
  });

  it('publishes sets that disagree on a shared key as separate blobs', () => {
    const { sink, blobs, warnings } = capturingSink();
    sink.emit([{ Model: 'a' }, { Model: 'b' }], [{ name: 'Requests', unit: 'Count', value: 1 }]);
    sink.flush();
    expect(warnings).toEqual([]);
    expect(blobs().map((b) => b.Model)).toEqual(['a', 'b']);
  });
});

/** The blob Powertools itself serialises for one group (the path every blob took before templates). */
function powertoolsBlob(
  shared: Record<string, string>,
  rests: Record<string, string>[],
  data: readonly MetricDatum[],
): EmfBlob {
  const m = new Metrics({ namespace: 'ModelOpsTest', serviceName: 'inference' });
  m.clearDefaultDimensions();
  m.setDefaultDimensions(shared);
  for (const rest of rests) m.addDimensions(rest);
  for (const d of data) {
    m.addMetric(
      d.name,
      d.unit === 'Count' ? MetricUnit.Count : MetricUnit.Milliseconds,
      d.value,
      d.highResolution ? MetricResolution.High : MetricResolution.Standard,
    );
  }
  return m.serializeMetrics() as unknown as EmfBlob;
}

const withoutTimestamp = (blob: EmfBlob) => ({
  ...blob,
  _aws: { ...blob._aws, Timestamp: 0 },
});

describe('PowertoolsMetricsSink EMF output', () => {
  beforeEach(() => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  const both: MetricDimensions[] = [{ Model: 'm', Version: '1' }, { Model: 'm' }];
  const versionOnly: MetricDimensions[] = [{ Model: 'm', Version: '2' }];
  const request = (latency: number, cold: boolean): MetricDatum[] => [
    { name: 'Requests', unit: 'Count', value: 1 },
    { name: 'Errors', unit: 'Count', value: 0 },
    { name: 'InvalidInput', unit: 'Count', value: 0 },
    { name: 'Latency', unit: 'Milliseconds', value: latency, highResolution: true },
    ...(cold ? [{ name: 'ColdStart', unit: 'Count', value: 1 } as const] : []),
  ];
  const fellBack: MetricDatum[] = [
    { name: 'Requests', unit: 'Count', value: 1 },
    { name: 'Errors', unit: 'Count', value: 1 },
    { name: 'Fallbacks', unit: 'Count', value: 1 },
  ];

  it("writes exactly the blobs Powertools serialises, with each request's own values and a fresh timestamp", () => {
    const { sink, blobs, warnings } = capturingSink();
    const before = Date.now();
    const groups: [MetricDimensions[], MetricDatum[], EmfBlob][] = [
      [both, request(2.5, true), powertoolsBlob({ Model: 'm' }, [{ Version: '1' }, {}], request(2.5, true))],
      [
        both,
        request(7.25, false),
        powertoolsBlob({ Model: 'm' }, [{ Version: '1' }, {}], request(7.25, false)),
      ],
      [
        both,
        request(0.125, false),
        powertoolsBlob({ Model: 'm' }, [{ Version: '1' }, {}], request(0.125, false)),
      ],
      [versionOnly, fellBack, powertoolsBlob({ Model: 'm', Version: '2' }, [{}], fellBack)],
      [versionOnly, fellBack, powertoolsBlob({ Model: 'm', Version: '2' }, [{}], fellBack)],
    ];
    for (const [dims, data] of groups) {
      sink.emit(dims, data);
      sink.flush();
    }
    const out = blobs();
    expect(warnings).toEqual([]);
    expect(out.map(withoutTimestamp)).toEqual(groups.map(([, , expected]) => withoutTimestamp(expected)));
    for (const blob of out) {
      expect(blob._aws.Timestamp).toBeGreaterThanOrEqual(before);
      expect(blob._aws.Timestamp).toBeLessThanOrEqual(Date.now());
    }
    expect(out.map((b) => b.Latency)).toEqual([2.5, 7.25, 0.125, undefined, undefined]);
    expect(out[0]!._aws.CloudWatchMetrics[0]!.Metrics).toContainEqual({
      Name: 'Latency',
      Unit: 'Milliseconds',
      StorageResolution: 1,
    });
    expect(out[3]!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['Model', 'Version']]);
  });

  it('publishes a group that repeats a metric name through Powertools, as a value array', () => {
    const { sink, blobs } = capturingSink();
    for (let i = 0; i < 2; i++) {
      sink.emit(both, [
        { name: 'ShadowErrors', unit: 'Count', value: 1 },
        { name: 'ShadowErrors', unit: 'Count', value: 0 },
      ]);
      sink.flush();
    }
    expect(blobs().map((b) => b.ShadowErrors)).toEqual([
      [1, 0],
      [1, 0],
    ]);
  });

  it('writes nothing when POWERTOOLS_METRICS_DISABLED is set', () => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    const { sink, blobs } = capturingSink();
    sink.emit(both, request(1, true));
    sink.flush();
    expect(blobs()).toEqual([]);
  });
});

describe('splitDimensionSets', () => {
  it('moves the keys every set shares into the shared part', () => {
    expect(splitDimensionSets([{ Model: 'm', Version: '1' }, { Model: 'm' }])).toEqual({
      shared: { Model: 'm' },
      rests: [{ Version: '1' }, {}],
    });
  });

  it('rejects sets that give a shared key different values', () => {
    expect(splitDimensionSets([{ Model: 'a' }, { Model: 'b' }])).toBeUndefined();
  });
});
