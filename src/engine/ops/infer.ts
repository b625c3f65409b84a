import { Graph, ValueType } from '../ir/graph';
import { sizeOf, Tensor } from '../ir/tensor';
import { prepareNode } from '../runtime/prepare';
import { InferInput, OpError } from './types';

/** Constant values up to this many elements are computed during inference (shape math). */
const MAX_PROPAGATED_ELEMENTS = 4096;

/**
 * Fills `graph.valueTypes` with the type and shape of every value, carrying symbolic
 * dims (batch, sequence) through the graph. Small constant subgraphs (the int64 shape
 * arithmetic exporters emit) are evaluated on the way so that Reshape / Expand / Slice
 * targets become known. Declared graph output types are completed from the result.
 */
export function inferShapes(graph: Graph): void {
  const known = new Map<string, InferInput>();
  for (const [name, tensor] of graph.initializers) {
    known.set(name, { dtype: tensor.dtype, shape: [...tensor.shape], value: tensor });
  }
  for (const input of graph.inputs) {
    known.set(input.name, { dtype: input.dtype, shape: input.shape });
  }
  try {
    for (const node of graph.nodes) {
      const step = prepareNode(graph, node);
      const inputs = node.inputs.map(name => {
        if (!name) {
          return undefined;
        }
        const value = known.get(name);
        if (!value) {
          throw new OpError(node, `input '${name}' is not produced by any earlier node`);
        }
        return value;
      });
      let types: InferInput[];
      try {
        types = step.op.inferTypes(inputs, step.attrs, step.ctx);
      } catch (error) {
        throw error instanceof OpError ? error : new OpError(node, (error as Error).message);
      }
      const values = propagateConstants(
        step.op.cpu.bind(step.op),
        inputs,
        step.attrs,
        step.ctx,
        types
      );
      node.outputs.forEach((name, i) => {
        if (name && types[i]) {
          const value = types[i].value ?? values?.[i];
          known.set(
            name,
            value ? { dtype: value.dtype, shape: [...value.shape], value } : types[i]
          );
        }
      });
    }
  } finally {
    // What was inferred before a node that fails stays: the import keeps it for reports.
    for (const [name, info] of known) {
      graph.valueTypes.set(name, { dtype: info.dtype, shape: info.shape });
    }
  }
  graph.outputs = graph.outputs.map(output => {
    const inferred = known.get(output.name);
    if (!inferred) {
      throw new Error(`graph output '${output.name}' is not produced by any node`);
    }
    return {
      name: output.name,
      dtype: inferred.dtype,
      shape: output.shape && output.shape.length ? output.shape : inferred.shape
    };
  });
}

function propagateConstants(
  cpu: (inputs: (Tensor | undefined)[], attrs: unknown, ctx: never) => Tensor[],
  inputs: (InferInput | undefined)[],
  attrs: unknown,
  ctx: unknown,
  types: ValueType[]
): Tensor[] | undefined {
  const present = inputs.filter(i => i) as InferInput[];
  if (present.some(i => !i.value) || present.length === 0) {
    return undefined;
  }
  const small = types.every(
    t =>
      t.shape &&
      t.shape.every(d => typeof d === 'number') &&
      sizeOf(t.shape as number[]) <= MAX_PROPAGATED_ELEMENTS
  );
  if (!small) {
    return undefined;
  }
  return cpu(
    inputs.map(i => i?.value),
    attrs,
    ctx as never
  );
}
