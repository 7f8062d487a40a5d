/**
 * The retrain pipeline's environment variable, apart from retrain-policy.ts so that the wiring tables (which must load
 * without any package, zod included) can name it.
 */

/** JSON object: model name → `RetrainPolicy` (retrain-policy.ts), for the models with `retrain.enabled`. */
export const RETRAIN_POLICIES_ENV = 'RETRAIN_POLICIES';
