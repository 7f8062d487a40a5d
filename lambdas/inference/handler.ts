/**
 * Inference function (Lambda Function URL, AWS_IAM auth, alias `live`): adapts the Function URL event to the
 * inference app with the in-process ONNX backend, and answers DeployCandidate's warm-up (`servingHandler`).
 * Contract: lambdas/inference/inference-app.ts.
 */
import { createOnnxInferenceAppFromEnv } from './app';
import { servingHandler } from './lambda-url';

// Built once per execution environment, during init; the warm-up then loads the stable version (routing record,
// manifest, verified artifact, ONNX Runtime session) so provisioned concurrency pays for it up front.
const app = createOnnxInferenceAppFromEnv({ warmUp: true });

export const handler = servingHandler(app);
