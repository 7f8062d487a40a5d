/**
 * Inference function (Lambda Function URL, AWS_IAM auth, alias `live`): adapts the Function URL event to the
 * inference app with the in-process ONNX backend. Contract: lambdas/inference/inference-app.ts.
 *
 * One other event is answered: DeployCandidate's warm-up, `{"modelopsWarmCandidate":{"model":…,"version":…}}`
 * exactly (lambdas/core/candidate-warm.ts), sent by direct Invoke of the alias (only the DeployCandidate role may).
 * A Function URL request always arrives as a payload 2.0 event, so it can never take this path.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { parseWarmCandidateEvent, type WarmCandidateResult } from '../core/candidate-warm';
import { createOnnxInferenceAppFromEnv } from './app';
import { toHttpRequest, toLambdaResult } from './lambda-url';

// Built once per execution environment, during init; the warm-up then loads the stable version (routing record,
// manifest, verified artifact, ONNX Runtime session) so provisioned concurrency pays for it up front.
const app = createOnnxInferenceAppFromEnv({ warmUp: true });

export const handler = async (
  event: APIGatewayProxyEventV2,
): Promise<APIGatewayProxyStructuredResultV2 | WarmCandidateResult> => {
  const warm = parseWarmCandidateEvent(event);
  if (warm.kind === 'warm') return app.warmCandidate(warm.request);
  if (warm.kind === 'refused') {
    return { outcome: 'refused', model: '', version: '', message: warm.message, samples: [] };
  }
  return toLambdaResult(await app(toHttpRequest(event)));
};
