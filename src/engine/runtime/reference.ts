import { Graph } from '../ir/graph';
import { Tensor } from '../ir/tensor';
import { checkFeeds } from './feeds';
import { checkOutputCount, prepareNodes } from './prepare';

export interface ReferenceOptions {
  /** Also return every intermediate value, keyed by name (for per-layer comparisons). */
  keepIntermediates?: boolean;
}

/**
 * Runs a graph on the CPU reference ops, node by node. Slow and exact: the oracle the
 * GPU kernels are tested against, and the fallback for what the GPU does not run.
 */
export function runReference(
  graph: Graph,
  feeds: Record<string, Tensor>,
  options: ReferenceOptions = {}
): Record<string, Tensor> {
  const prepared = prepareNodes(graph);
  checkFeeds(graph, feeds);
  const values = new Map<string, Tensor>(graph.initializers);
  for (const [name, tensor] of Object.entries(feeds)) {
    values.set(name, tensor);
  }
  for (const step of prepared) {
    const inputs = step.node.inputs.map(name => (name ? readValue(values, name) : undefined));
    const outputs = step.op.cpu(inputs, step.attrs, step.ctx);
    checkOutputCount(step, outputs.length);
    step.node.outputs.forEach((name, i) => {
      if (name) {
        values.set(name, outputs[i]);
      }
    });
  }
  const result: Record<string, Tensor> = {};
  const names = options.keepIntermediates ? values.keys() : graph.outputs.map(o => o.name);
  for (const name of names) {
    result[name] = readValue(values, name);
  }
  return result;
}

function readValue(values: Map<string, Tensor>, name: string): Tensor {
  const value = values.get(name);
  if (!value) {
    throw new Error(`value '${name}' is read before any node produces it`);
  }
  return value;
}
