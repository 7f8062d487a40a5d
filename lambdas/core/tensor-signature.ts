/**
 * The signature rule for graph inputs fed by a `tensor` feature (docs/manifest.md "Tensor features"): the input has
 * rank 1 + shape.length, `[batch, ...shape]`, and every fixed dimension after the batch equal to the declared one.
 * The batch dimension stays signature.ts's rule, as for every input. Column tensors keep the rank-2 rule of ./signature.ts; this replaces it for tensor
 * features only. Pure: works on the metadata a `ModelRuntime` reports.
 */
import type { Feature, InputTensor } from './manifest';
import type { TensorMeta } from './model-runtime';
import { describeShape } from './tensor-values';

/** The tensor feature that feeds `tensor` alone, or undefined for a tensor of feature columns. */
export function tensorFeatureOf(
  tensor: InputTensor,
  features: readonly Feature[],
): Extract<Feature, { type: 'tensor' }> | undefined {
  if (tensor.features.length !== 1) return undefined;
  const feature = features.find((f) => f.name === tensor.features[0]);
  return feature?.type === 'tensor' ? feature : undefined;
}

const fixed = (dim: number | string | undefined): number | undefined =>
  typeof dim === 'number' && dim >= 0 ? dim : undefined;

/**
 * The shape mismatches between a graph input and the tensor feature that feeds it; empty when they agree.
 * Messages start with `inputs.tensors "<name>"`, like signature.ts's.
 */
export function tensorInputShapeIssues(
  tensor: InputTensor,
  feature: Extract<Feature, { type: 'tensor' }>,
  meta: TensorMeta,
): string[] {
  const where = `inputs.tensors "${tensor.name}"`;
  const expected = `[batch, ${feature.shape.join(', ')}]`;
  const shape = meta.shape ?? [];
  const got = `[${shape.map((d) => (typeof d === 'number' ? String(d) : JSON.stringify(d))).join(', ')}]`;
  if (shape.length !== feature.shape.length + 1) {
    return [
      `${where}: the model input has shape ${got}; tensor feature "${feature.name}" (shape ` +
        `${describeShape(feature.shape)}) needs rank ${feature.shape.length + 1} ${expected}`,
    ];
  }
  // The batch dimension (shape[0]) is signature.ts's rule for every input alike (a fixed size is served in runs).
  const issues: string[] = [];
  feature.shape.forEach((d, i) => {
    const dim = fixed(shape[i + 1]);
    if (dim !== undefined && dim !== d) {
      issues.push(
        `${where}: dimension ${i + 1} of the model input is ${dim} but tensor feature "${feature.name}" declares ` +
          `${d} (shape ${describeShape(feature.shape)}; the model expects ${got})`,
      );
    }
  });
  return issues;
}
