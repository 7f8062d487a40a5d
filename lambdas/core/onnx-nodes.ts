/**
 * Reading ONNX graph nodes (onnx-proto): what the serve-time contract (./serve-contract.ts) and `modelops init`
 * (cli/onnx-graph.ts) both need to recognise classifier and boolean outputs, so both read a graph the same way.
 */
import type { onnx } from 'onnx-proto';

export type OnnxNode = onnx.INodeProto;

/** protobufjs int64 fields are numbers or Long objects; absent is 0. */
export const toNumber = (v: number | { toString(): string } | null | undefined): number =>
  typeof v === 'number' ? v : Number(v?.toString() ?? 0);

export const utf8 = new TextDecoder();

export function attribute(node: OnnxNode, name: string): onnx.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name) ?? undefined;
}

/** Ops that pass values through unchanged (a reshape or a cast): traced through to find a tensor's origin. */
export const VALUE_PRESERVING_OPS: ReadonlySet<string> = new Set([
  'Identity',
  'Reshape',
  'Squeeze',
  'Unsqueeze',
  'Flatten',
  'Cast',
]);

/** Ops whose output is boolean: a class output cast from one has the two classes 0 and 1. */
export const BOOLEAN_OPS: ReadonlySet<string> = new Set([
  'Greater',
  'Less',
  'Equal',
  'GreaterOrEqual',
  'LessOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'IsNaN',
  'IsInf',
]);

/** ai.onnx.ml classifiers: their class labels are attributes (classlabels_int64s / _strings). */
export const CLASSIFIER_OPS: ReadonlySet<string> = new Set([
  'TreeEnsembleClassifier',
  'LinearClassifier',
  'SVMClassifier',
]);
