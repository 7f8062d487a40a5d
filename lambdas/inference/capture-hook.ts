/**
 * Capture as an after-response hook: a sampled share of requests (whole requests) is buffered with pii features
 * dropped and written as JSON Lines batches (docs/inference.md, Capture). Batches are kept in memory until full or
 * too old; Lambda may freeze or shut the environment down with a partial batch, which is then lost — acceptable for
 * sampled capture, not for an audit trail.
 */
import {
  captureObjectKey,
  createCaptureBuffer,
  randomSuffix,
  shouldCapture,
  toJsonLines,
  type CaptureBatch,
  type CaptureSettings,
  type CaptureWriter,
  type PiiStripper,
} from '../core/capture';
import { INFERENCE_METRICS as M, type MetricDatum, type StructuredLogger } from '../core/ports';
import type { AfterResponseHook, ServedContext } from './hooks';
import type { ModelMetrics } from './request-metrics';

export interface CaptureHookOptions {
  readonly settings: CaptureSettings;
  readonly writer: CaptureWriter;
  /** The compiled pii stripper of the served version. */
  readonly stripPii: (ctx: ServedContext) => PiiStripper;
  readonly metrics: (model: string) => ModelMetrics | undefined;
  readonly logger: StructuredLogger;
  readonly now: () => number;
  readonly random: () => number;
}

const CAPTURE_ERROR: readonly MetricDatum[] = [{ name: M.captureErrors, unit: 'Count', value: 1 }];

export function createCaptureHook(options: CaptureHookOptions): AfterResponseHook {
  const { settings, writer, logger, now, random } = options;
  const buffer = createCaptureBuffer(settings);

  const writeBatch = async (batch: CaptureBatch, nowMs: number): Promise<void> => {
    const key = captureObjectKey(batch.model, nowMs, randomSuffix(random));
    try {
      await writer.write(key, toJsonLines(batch.records));
    } catch (err) {
      const metrics = options.metrics(batch.model);
      if (metrics !== undefined) metrics.emit(metrics.modelDims, CAPTURE_ERROR);
      logger.error('capture batch could not be written; its records are dropped', {
        model: batch.model,
        key,
        records: batch.records.length,
        error: err as Error,
      });
    }
  };

  return {
    name: 'capture',
    async onServed(ctx) {
      const nowMs = now();
      const batches: CaptureBatch[] = [];
      if (shouldCapture(settings.sampleRate, random)) {
        const full = buffer.add(
          {
            requestId: ctx.requestId,
            time: new Date(nowMs).toISOString(),
            model: ctx.model,
            version: ctx.version,
            instances: options.stripPii(ctx)(ctx.instances),
            predictions: ctx.predictions,
          },
          nowMs,
        );
        if (full !== undefined) batches.push(full);
      }
      if (buffer.size > 0) batches.push(...buffer.takeExpired(nowMs));
      for (const batch of batches) await writeBatch(batch, nowMs);
    },
  };
}
