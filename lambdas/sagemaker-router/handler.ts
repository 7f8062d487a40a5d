/**
 * SageMaker router (Lambda Function URL): the same inference app as lambdas/inference/handler.ts — validation,
 * routing, metrics and capture are identical — with the SageMaker backend: InvokeEndpoint on
 * SAGEMAKER_ENDPOINT_NAME, TargetVariant = the chosen version's variant. Loads no model and no ONNX Runtime.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createSageMakerBackend } from '../adapters/sagemaker-backend';
import { createInferenceAppFromEnv } from '../inference/from-env';
import { toHttpRequest, toLambdaResult } from '../inference/lambda-url';
import { INFERENCE_ENV, requireEnv } from '../shared/env';

const app = createInferenceAppFromEnv({
  backend: createSageMakerBackend({ endpointName: requireEnv(INFERENCE_ENV.sageMakerEndpointName) }),
});

export const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> =>
  toLambdaResult(await app(toHttpRequest(event)));
