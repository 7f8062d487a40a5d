import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PowertoolsMetricsSink, splitDimensionSets } from '../../lambdas/adapters/powertools-metrics-sink';
import type { MetricDimensions } from '../../lambdas/core/ports';

interface EmfBlob {
  readonly _aws: {
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
