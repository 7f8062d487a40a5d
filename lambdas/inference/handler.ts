/**
 * Inference function (Lambda Function URL, AWS_IAM auth, alias `live`): adapts the Function URL event to the
 * inference app with the in-process ONNX Runtime backend. Contract: lambdas/inference/inference-app.ts.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createOnnxInferenceAppFromEnv } from './app';
import { toHttpRequest, toLambdaResult } from './lambda-url';

// Built once per execution environment, during init; the warm-up then loads the stable version (routing record,
// manifest, verified artifact, ONNX Runtime session) so provisioned concurrency pays for it up front.
const app = createOnnxInferenceAppFromEnv({ warmUp: true });

export const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> =>
  toLambdaResult(await app(toHttpRequest(event)));
