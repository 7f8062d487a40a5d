/**
 * The warm-up at creation (Lambda init): each model's routing record, then its stable version and the candidate,
 * with the backend's `prepare` (ONNX Runtime's native load) overlapping the first download. Requests arriving
 * meanwhile share the loads in flight; failures are left for requests to meet and report.
 */
import { chooseVersion } from '../core/routing';
import type { InferenceBackend, StructuredLogger } from '../core/ports';
import type { ServingPipeline } from './serving-pipeline';
import { errorName } from './settings';

/** Warms every model; resolves when all are done (never rejects). */
export function warmUp(
  pipeline: ServingPipeline,
  models: readonly string[],
  backend: Pick<InferenceBackend, 'prepare'>,
  logger: StructuredLogger,
): Promise<void> {
  let prepared: Promise<void> | undefined;
  // Two turns of the event loop let the socket connect and write the request before the backend's synchronous
  // load (ONNX Runtime's native module) blocks the loop; its response then arrives while that load runs.
  const prepareOnce = (): Promise<void> =>
    (prepared ??= new Promise<void>((r) => setImmediate(r))
      .then(() => new Promise<void>((r) => setImmediate(r)))
      .then(() => backend.prepare?.()));

  const warmModel = async (name: string): Promise<void> => {
    const loader = pipeline.model(name)?.loader;
    if (loader === undefined) return;
    try {
      const record = await pipeline.routingRecord(name);
      const decision = chooseVersion(record);
      const stable = loader.load(record?.stable ?? decision.serve);
      // Handled now, awaited below: it may settle while the runtime loads.
      stable.catch(() => undefined);
      // The manifest read is under way: load the runtime while it (and then the artifact) downloads.
      await prepareOnce();
      await stable;
      const candidate = record?.candidate;
      if (typeof candidate === 'string' && candidate !== record?.stable) await loader.load(candidate);
    } catch (err) {
      logger.debug('warm-up stopped; requests will load what they need', {
        model: name,
        error: errorName(err),
      });
    }
  };
  return Promise.all(models.map(warmModel)).then(() => undefined);
}
