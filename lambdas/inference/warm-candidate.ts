/**
 * The warm-up entry of the inference app (DeployCandidate's Lambda target; lambdas/core/candidate-warm.ts): one
 * version loaded through the model's real version loader — ModelVersions record, manifest hash, signature, artifact
 * hash, backend session — then its manifest's smoke samples run through the loaded version's validator, backend
 * model and formatter. The version stays loaded, so the first request routed to it in this execution environment is
 * served warm.
 *
 * No routing and no metrics: the routing record names the candidate at weight 0 while it is deployed, so no request
 * would choose it, and a warm-up is not traffic (the canary judge must not count it).
 */
import {
  runSmokeSamples,
  smokeSamplesOf,
  type WarmCandidateRequest,
  type WarmCandidateResult,
} from '../core/candidate-warm';
import { registeredManifestKey } from '../core/keys';
import { ArtifactIntegrityError } from '../core/model-cache';
import type { RegistryStore, StructuredLogger, VersionReader } from '../core/ports';
import { MAX_REGISTERED_MANIFEST_BYTES } from '../core/runtime-manifest';
import { sha256OfBytes } from '../core/sha256';
import { LedgerMismatchError, type VersionLoader } from './version-loader';

export interface CandidateWarmerOptions {
  /** The loaders of the models this app serves, by name. */
  readonly models: ReadonlyMap<string, { readonly loader: VersionLoader }>;
  readonly registry: RegistryStore;
  readonly versions: VersionReader;
  readonly logger: StructuredLogger;
}

const describe = (err: unknown): string => {
  if (err instanceof LedgerMismatchError) return `${err.message} (ledger check: ${err.check})`;
  if (err instanceof ArtifactIntegrityError) return err.message;
  const e = err as Error;
  return `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
};

/** The app's `warmCandidate`: never rejects; every failure is an outcome with its message. */
export function createCandidateWarmer(
  options: CandidateWarmerOptions,
): (request: WarmCandidateRequest) => Promise<WarmCandidateResult> {
  const { models, registry, versions, logger } = options;
  return async ({ model, version }) => {
    const base = { model, version };
    const served = models.get(model);
    if (served === undefined) {
      return {
        ...base,
        outcome: 'refused',
        message: `model "${model}" is not served by this function (models: ${[...models.keys()].join(', ')})`,
        samples: [],
      };
    }
    const startedAt = performance.now();
    let loaded;
    try {
      loaded = await served.loader.load(version);
    } catch (err) {
      logger.warn('candidate warm-up: the version cannot be loaded', {
        model,
        version,
        error: describe(err),
      });
      return { ...base, outcome: 'load-failed', message: describe(err), samples: [] };
    }
    const loadMs = Math.round(performance.now() - startedAt);
    // The runtime manifest keeps only what serving needs; the smoke samples are read from the same registered
    // manifest, checked against the ledger's hash again (the loader checked the copy it read).
    let samples;
    try {
      const key = registeredManifestKey(model, version);
      const [text, record] = await Promise.all([
        registry.readText(key, MAX_REGISTERED_MANIFEST_BYTES),
        versions.getVersion(model, version),
      ]);
      if (text === undefined) throw new Error(`manifest ${key} does not exist`);
      if (
        record?.manifestSha256 !== undefined &&
        sha256OfBytes(text) !== record.manifestSha256.toLowerCase()
      ) {
        throw new Error(`manifest ${key} does not match the sha256 in ModelVersions`);
      }
      const parsed = smokeSamplesOf(JSON.parse(text));
      if (!parsed.ok) throw new Error(`manifest ${key}: ${parsed.message}`);
      samples = parsed.samples;
    } catch (err) {
      logger.warn('candidate warm-up: the smoke samples cannot be read', {
        model,
        version,
        error: describe(err),
      });
      return { ...base, outcome: 'load-failed', message: describe(err), loadMs, samples: [] };
    }
    const { state, model: backendModel } = loaded;
    const results = await runSmokeSamples(samples, {
      outputs: state.manifest.outputs,
      validate: state.validate,
      predict: (instances) => backendModel.predict(instances),
      format: state.format,
    });
    const failed = results.filter((r) => !r.ok).length;
    logger.info('candidate warmed', { model, version, loadMs, smokeSamples: results.length, failed });
    return { ...base, outcome: failed === 0 ? 'warmed' : 'smoke-failed', loadMs, samples: results };
  };
}
