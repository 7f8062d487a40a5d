/**
 * SageMaker router (Lambda Function URL): the same inference app as lambdas/inference/handler.ts — validation,
 * routing, metrics and capture are identical — with the SageMaker backend: InvokeEndpoint on
 * SAGEMAKER_ENDPOINT_NAME, TargetVariant = the chosen version's variant. Loads no model and no ONNX Runtime.
 *
 * It answers DeployCandidate's warm-up too (`servingHandler`): once the candidate's variant is InService, the
 * SageMaker target sends it, and the candidate's manifest smoke samples run through this router's validator,
 * InvokeEndpoint on the candidate's variant and formatter — the path canary traffic will take.
 */
import { createSageMakerBackend } from '../adapters/sagemaker-backend';
import { createInferenceAppFromEnv } from '../inference/from-env';
import { servingHandler } from '../inference/lambda-url';
import { INFERENCE_ENV, requireEnv } from '../shared/env';

const app = createInferenceAppFromEnv({
  backend: createSageMakerBackend({ endpointName: requireEnv(INFERENCE_ENV.sageMakerEndpointName) }),
});

export const handler = servingHandler(app);
