import { Graph, Node, shapeToString } from '../../ir/graph';
import { sizeOf, Tensor } from '../../ir/tensor';
import { InferInput } from '../../ops/types';
import { atNode } from '../../ops/window';
import { checkOutputCount, PreparedNode, prepareNodes } from '../../runtime/prepare';
import { PassResult, rewriteGraph } from '../pass';

/**
 * Outputs up to this many elements always fold: the shape arithmetic exporters emit, and
 * small tables.
 */
export const ALWAYS_FOLDED_ELEMENTS = 1024;

/**
 * Evaluates at build time every node whose result does not depend on the graph inputs and
 * stores it as an initializer: the int64 shape subgraphs PyTorch exports, transforms of
 * weights (Transpose, Cast, Reshape), and Shape / Size of values whose shape is static.
 *
 * Size rule, so that folding never bloats the model: a node folds only when its outputs
 * together hold at most as many elements as its constant inputs together, or at most
 * ALWAYS_FOLDED_ELEMENTS. Expand, ConstantOfShape, Tile or Range building a large tensor
 * from a small one stay in the graph and compute it at run time. Sizes are judged on the
 * inferred output shapes before anything is computed; a node whose output shape inference
 * cannot tell does not fold.
 */
export function foldConstants(graph: Graph): PassResult {
  const constants = new Map(graph.initializers);
  const known = (name: string): InferInput | undefined => {
    const value = constants.get(name);
    if (value) {
      return { dtype: value.dtype, shape: [...value.shape], value };
    }
    return graph.valueTypes.get(name) ?? graph.inputs.find(input => input.name === name);
  };
  const nodes: Node[] = [];
  const changes: string[] = [];
  for (const step of prepareNodes(graph)) {
    const outputs = evaluateAtBuildTime(step, step.node.inputs.map(known));
    if (!outputs) {
      nodes.push(step.node);
      continue;
    }
    const { node } = step;
    node.outputs.forEach((name, i) => {
      if (name) {
        constants.set(name, outputs[i]);
      }
    });
    const described = node.outputs
      .filter(name => name)
      .map(name => `'${name}' ${shapeToString(constants.get(name)!.shape)}`)
      .join(', ');
    changes.push(`folded ${node.opType} '${node.name}' into constant ${described}`);
  }
  return { graph: rewriteGraph(graph, { nodes, initializers: constants }), changes };
}

/**
 * The node's outputs when they are known without the graph inputs and small enough to
 * keep (see foldConstants), else undefined. `inputs` holds undefined for an omitted
 * optional input and for a value whose type is unknown.
 */
function evaluateAtBuildTime(
  step: PreparedNode,
  inputs: (InferInput | undefined)[]
): Tensor[] | undefined {
  const { node, op, attrs, ctx } = step;
  const given = node.inputs.flatMap((name, i) => (name ? [inputs[i]] : []));
  if (given.length === 0 || given.some(input => !input)) {
    return undefined;
  }
  const types: InferInput[] = atNode(ctx, () => op.inferTypes(inputs, attrs, ctx));
  const named = types.filter((_, i) => node.outputs[i]);
  if (named.every(type => type.value)) {
    // Shape and Size of a static shape: known from the type alone.
    return types.map(type => type.value!);
  }
  const constantInputs = given.map(input => input!.value);
  if (constantInputs.some(value => !value)) {
    return undefined;
  }
  const outputSizes = named.map(type => staticSize(type.shape));
  if (outputSizes.some(size => size === undefined)) {
    return undefined;
  }
  const outputElements = outputSizes.reduce((sum: number, size) => sum + size!, 0);
  const inputElements = constantInputs.reduce((sum, value) => sum + value!.size, 0);
  if (outputElements > Math.max(inputElements, ALWAYS_FOLDED_ELEMENTS)) {
    return undefined;
  }
  const outputs: Tensor[] = atNode(ctx, () =>
    op.cpu(
      inputs.map(input => input?.value),
      attrs,
      ctx
    )
  );
  checkOutputCount(step, outputs.length);
  return outputs;
}

function staticSize(shape: InferInput['shape']): number | undefined {
  return shape?.every(d => typeof d === 'number') ? sizeOf(shape as number[]) : undefined;
}
