import { describe, expect, it } from 'vitest';
import { InMemoryMetricsSink } from '../../lambdas/adapters/in-memory-metrics-sink';
import { INFERENCE_METRICS } from '../../lambdas/core/ports';
import { inferenceSettingsFromEnv } from '../../lambdas/inference/from-env';
import { createRequestMetrics } from '../../lambdas/inference/request-metrics';
import { latencyThresholdFor, resolveInferenceSettings } from '../../lambdas/inference/settings';
import { MemoryLogger } from './inference-helpers';

const MODEL = { Model: 'm' };

describe('SlowRequests', () => {
  it('counts 0/1 per answered request against the threshold, strictly above it', () => {
    const sink = new InMemoryMetricsSink();
    const m = createRequestMetrics(sink, new MemoryLogger()).forModel('m', 250);
    m.request(m.modelDims, 'ok', 100);
    m.request(m.modelDims, 'ok', 250);
    m.request(m.modelDims, 'ok', 250.5);
    m.request(m.modelDims, 'ok', 900);
    const slow = sink.get(INFERENCE_METRICS.slowRequests, MODEL);
    expect(slow?.count).toBe(4);
    expect(slow?.sum).toBe(2);
    expect(sink.sum(INFERENCE_METRICS.requests, MODEL)).toBe(4);
  });

  it('is not emitted for refused or failed requests (no latency), so they cannot flatter the SLI', () => {
    const sink = new InMemoryMetricsSink();
    const m = createRequestMetrics(sink, new MemoryLogger()).forModel('m', 250);
    m.request(m.modelDims, 'invalid');
    m.request(m.modelDims, 'error');
    expect(sink.get(INFERENCE_METRICS.slowRequests, MODEL)).toBeUndefined();
  });

  it('is counted under both {Model, Version} and {Model} of the answering version', () => {
    const sink = new InMemoryMetricsSink();
    const m = createRequestMetrics(sink, new MemoryLogger()).forModel('m', 10);
    m.request(m.version('1.0.0').both, 'ok', 11);
    expect(sink.sum(INFERENCE_METRICS.slowRequests, { Model: 'm', Version: '1.0.0' })).toBe(1);
    expect(sink.sum(INFERENCE_METRICS.slowRequests, MODEL)).toBe(1);
  });

  it('is not emitted without a threshold', () => {
    const sink = new InMemoryMetricsSink();
    const m = createRequestMetrics(sink, new MemoryLogger()).forModel('m');
    m.request(m.modelDims, 'ok', 5_000);
    expect(sink.get(INFERENCE_METRICS.slowRequests, MODEL)).toBeUndefined();
  });
});

describe('latency threshold settings', () => {
  it('defaults to 250 ms, takes SLO_LATENCY_THRESHOLD_MS and per-model overrides', () => {
    expect(latencyThresholdFor(resolveInferenceSettings(), 'a')).toBe(250);
    const fromEnv = inferenceSettingsFromEnv({ SLO_LATENCY_THRESHOLD_MS: '400' });
    expect(fromEnv.latencyThresholdMs).toBe(400);
    const s = resolveInferenceSettings({ latencyThresholdMs: 400, latencyThresholdMsByModel: { b: 50 } });
    expect(latencyThresholdFor(s, 'a')).toBe(400);
    expect(latencyThresholdFor(s, 'b')).toBe(50);
  });

  it('refuses a non-positive threshold, naming it', () => {
    expect(() => resolveInferenceSettings({ latencyThresholdMsByModel: { b: 0 } })).toThrow(
      /latencyThresholdMsByModel\.b must be > 0/,
    );
    expect(() => inferenceSettingsFromEnv({ SLO_LATENCY_THRESHOLD_MS: '0' })).toThrow(
      /SLO_LATENCY_THRESHOLD_MS/,
    );
  });
});
