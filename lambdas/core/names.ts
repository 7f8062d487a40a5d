/**
 * Model name and version syntax, without zod: the inference function imports these (through keys.ts, routing.ts
 * and promotion.ts) and must not load the manifest schema, whose zod build costs its cold start (manifest.ts
 * re-exports both, so the manifest contract is unchanged).
 */

/** Model names become S3 key segments and DynamoDB keys: lower-case, digits and dashes, no traversal. */
export const MODEL_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
/** Versions: letters, digits, dot, dash, underscore; must start with a letter or digit; never `..`. */
export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** ONNX tensor element types the runtime knows how to feed from features. */
export const TENSOR_ELEMENT_TYPES = ['float32', 'float64', 'int64', 'int32', 'string', 'bool'] as const;
export type TensorElementType = (typeof TENSOR_ELEMENT_TYPES)[number];

export const OUTPUT_KINDS = ['probability', 'class', 'regression'] as const;
export type OutputKind = (typeof OUTPUT_KINDS)[number];

export const FRAMEWORKS = ['onnx', 'sagemaker'] as const;
export type Framework = (typeof FRAMEWORKS)[number];
