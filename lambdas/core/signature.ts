/**
 * Does the model's graph accept what the manifest promises to feed it and return what the manifest promises to
 * read? Pure: works on the metadata a `ModelRuntime` reports.
 */
import { graphBatchSize } from './batch-runs';
import type { Manifest } from './manifest';
import type { TensorMeta } from './model-runtime';
import { outputShapeIssue } from './serve-contract';
import { tensorFeatureOf, tensorInputShapeIssues } from './tensor-signature';

/** A fixed dimension, or undefined when the model leaves it symbolic (string or negative). */
function fixedDim(dim: number | string | undefined): number | undefined {
  return typeof dim === 'number' && dim >= 0 ? dim : undefined;
}

function describeShape(shape: readonly (number | string)[] | undefined): string {
  return `[${(shape ?? []).map((d) => (typeof d === 'number' ? String(d) : JSON.stringify(d))).join(', ')}]`;
}

/** Every mismatch between the manifest's inputs/outputs and the graph's; empty when they agree. */
export function signatureIssues(
  manifest: Manifest,
  graph: { readonly inputs: readonly TensorMeta[]; readonly outputs: readonly TensorMeta[] },
): string[] {
  const issues: string[] = [];
  const graphInputs = new Map(graph.inputs.map((i) => [i.name, i]));
  const declared = new Set(manifest.inputs.tensors.map((t) => t.name));

  for (const tensor of manifest.inputs.tensors) {
    const meta = graphInputs.get(tensor.name);
    const where = `inputs.tensors "${tensor.name}"`;
    if (!meta) {
      issues.push(
        `${where}: the model has no input named "${tensor.name}" (model inputs: ${[...graphInputs.keys()].join(', ') || 'none'})`,
      );
      continue;
    }
    if (!meta.isTensor) {
      issues.push(
        `${where}: the model input is not a tensor (sequence or map); only tensor inputs can be fed`,
      );
      continue;
    }
    if (meta.elementType !== tensor.elementType) {
      issues.push(
        `${where}: elementType is ${tensor.elementType} but the model expects ${meta.elementType ?? 'an unknown type'}`,
      );
    }
    const shape = meta.shape ?? [];
    const tensorFeature = tensorFeatureOf(tensor, manifest.inputs.features);
    if (tensorFeature !== undefined) {
      issues.push(...tensorInputShapeIssues(tensor, tensorFeature, meta));
    } else if (shape.length !== 2) {
      issues.push(
        `${where}: the model input has shape ${describeShape(shape)}; expected rank 2 [batch, ${tensor.features.length}]`,
      );
    } else {
      // A fixed batch dimension (torch.onnx.export without dynamic_axes) is served in runs of that size
      // (./batch-runs.ts); only inputs that fix different sizes cannot be fed together (checked below).
      const width = fixedDim(shape[1]);
      if (width !== undefined && width !== tensor.features.length) {
        issues.push(
          `${where}: the model expects ${width} columns but the tensor lists ${tensor.features.length} features`,
        );
      }
    }
  }
  const batch = graphBatchSize(
    graph.inputs,
    manifest.inputs.tensors.map((t) => t.name),
  );
  if (!batch.ok) issues.push(batch.issue);
  for (const name of graphInputs.keys()) {
    if (!declared.has(name)) {
      issues.push(
        `inputs.tensors: the model has an input "${name}" that no manifest tensor feeds; declare it`,
      );
    }
  }

  const graphOutputs = new Map(graph.outputs.map((o) => [o.name, o]));
  for (const output of manifest.outputs) {
    const meta = graphOutputs.get(output.name);
    const where = `outputs "${output.name}"`;
    if (!meta) {
      issues.push(
        `${where}: the model has no output named "${output.name}" (model outputs: ${[...graphOutputs.keys()].join(', ') || 'none'})`,
      );
      continue;
    }
    if (!meta.isTensor) {
      issues.push(
        `${where}: the model output is not a tensor (e.g. a ZipMap of probabilities); export it as a tensor (skl2onnx: options zipmap=False)`,
      );
      continue;
    }
    if (meta.elementType !== output.elementType) {
      issues.push(
        `${where}: elementType is ${output.elementType} but the model returns ${meta.elementType ?? 'an unknown type'}`,
      );
    }
    const shape = outputShapeIssue(output, meta);
    if (shape !== undefined) issues.push(shape);
  }
  return issues;
}
