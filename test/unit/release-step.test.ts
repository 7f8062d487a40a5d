/** releaseStepHandler (lambdas/shared/release-step.ts): metrics are flushed on every path, without log noise. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { releaseStepHandler } from '../../lambdas/shared/release-step';
import { logger, metrics, MetricUnit } from '../../lambdas/shared/powertools';

function step(run: () => Promise<string>) {
  return releaseStepHandler({
    name: 'TestStep',
    wire: () => ({ deps: {}, schema: z.object({}) }),
    run,
  });
}

afterEach(() => vi.restoreAllMocks());

describe('releaseStepHandler', () => {
  // Publishing no metric makes Powertools log "No application metrics to publish" on every such call.
  it('publishes nothing when the step added no metric', async () => {
    const publish = vi.spyOn(metrics, 'publishStoredMetrics');
    expect(await step(async () => 'done')({})).toBe('done');
    expect(publish).not.toHaveBeenCalled();
    expect(metrics.hasStoredMetrics()).toBe(false);
  });

  it("publishes the step's metrics, and StepErrors when it fails", async () => {
    const publish = vi.spyOn(metrics, 'publishStoredMetrics');
    await step(async () => {
      metrics.addMetric('Done', MetricUnit.Count, 1);
      return 'done';
    })({});
    expect(publish).toHaveBeenCalledTimes(1);
    vi.spyOn(logger, 'error').mockImplementation(() => undefined);
    await expect(step(() => Promise.reject(new Error('boom')))({})).rejects.toThrow('boom');
    expect(publish).toHaveBeenCalledTimes(2);
    expect(metrics.hasStoredMetrics()).toBe(false);
  });
});
