/**
 * The support check of TF-TRT's segmenter: for each node of a model, whether an engine can
 * compute it and, when not, why. Nodes an engine cannot compute fall back to the CPU
 * reference ops (see segmentGraph).
 */
import { Graph, Node, opsetOf } from '../ir/graph';
import { findOp } from '../ops/registry';
import { InferInput } from '../ops/types';
import { kernelDeclines } from '../runtime/native';

export interface SupportOptions {
  /**
   * Op types that fall back whatever their support (TF-TRT's TF_TRT_OP_DENYLIST): "Cast",
   * or with their domain when it is not ai.onnx, "com.microsoft::Gelu".
   */
  denyOps?: readonly string[];
}

/** Why a node falls back; `reason` is one line ("Cast is in denyOps"). */
export interface Unsupported {
  reason: string;
}

/** The op type, with its domain when that is not ai.onnx: "Conv", "com.microsoft::Attention". */
export function qualifiedOpType(node: Pick<Node, 'opType' | 'domain'>): string {
  return node.domain && node.domain !== 'ai.onnx' ? `${node.domain}::${node.opType}` : node.opType;
}

/**
 * Each node an engine cannot compute, with why: an op webtrt does not know, an op without a
 * WebGPU kernel, a kernel that declines the node's dtypes or attributes, an input the kernel
 * needs on the host that is only known at run time, an output whose shape depends on the
 * data, or an op type in `denyOps`. Nodes the builder evaluates before any input is fed
 * (buildTimeNodes) need no kernel and are supported unless denied.
 */
export function unsupportedNodes(
  graph: Graph,
  options: SupportOptions = {}
): Map<Node, Unsupported> {
  const denied = new Set(options.denyOps ?? []);
  const atBuildTime = buildTimeNodes(graph, denied);
  const known = new Set(graph.initializers.keys());
  atBuildTime.forEach(node => node.outputs.forEach(name => name && known.add(name)));
  const result = new Map<Node, Unsupported>();
  for (const node of graph.nodes) {
    const opType = qualifiedOpType(node);
    const reason = denied.has(opType)
      ? `${opType} is in denyOps`
      : atBuildTime.has(node)
        ? undefined
        : kernelRefusal(graph, node, known);
    if (reason !== undefined) {
      result.set(node, { reason });
    }
  }
  return result;
}

/** Why no WebGPU kernel computes `node` in an engine, or undefined when one does. */
function kernelRefusal(graph: Graph, node: Node, known: ReadonlySet<string>): string | undefined {
  const opType = qualifiedOpType(node);
  const op = findOp(node.opType, node.domain);
  if (!op) {
    return `${opType} is not supported`;
  }
  const kernel = op.webgpu;
  if (!kernel) {
    return `${opType} has no WebGPU kernel`;
  }
  let attrs: unknown;
  try {
    attrs = op.parseAttributes({ opset: opsetOf(graph, node.domain), node });
  } catch (error) {
    return `${opType}: ${(error as Error).message}`;
  }
  const hostInputs = op.hostInputs?.(attrs) ?? [];
  const runTimeHostInput = hostInputs.find(i => node.inputs[i] && !known.has(node.inputs[i]));
  if (runTimeHostInput !== undefined) {
    return `${opType} needs input ${runTimeHostInput} on the host when the engine is built, and it is only known at run time`;
  }
  const typeOf = (name: string) =>
    graph.initializers.get(name) ??
    graph.valueTypes.get(name) ??
    graph.inputs.find(input => input.name === name);
  const inputTypes = node.inputs.map(name => (name ? typeOf(name) : undefined));
  const declined = kernelDeclines(
    kernel,
    inputTypes.map((type, i) => (hostInputs.includes(i) ? undefined : type?.dtype)),
    attrs
  );
  if (declined) {
    return `${opType}: ${declined}`;
  }
  // An unknown output dim is the data's doing only when every input size is known: from
  // symbolic dims (a dynamic image size through a strided Conv) inference may not follow.
  const inputsKnown = node.inputs.every(
    (name, i) => !name || inputTypes[i]?.shape?.every(dim => typeof dim === 'number')
  );
  const dataDependent = node.outputs.find(
    name => name && typeOf(name)?.shape?.some(dim => dim === null)
  );
  if (inputsKnown && dataDependent !== undefined) {
    return `${opType}: the shape of output '${dataDependent}' depends on the data`;
  }
  return undefined;
}

/**
 * The nodes whose outputs the builder knows before any input is fed: it fixes every input's
 * shape, then answers Shape and Size from shapes and folds what reads only constants into
 * initializers (foldConstants). Such nodes need no kernel. Folding has a size rule (a node
 * that would build a large tensor from a small one stays) that needs the concrete shapes,
 * which a model's symbolic dims do not give: it is not applied here. A node whose op type is
 * in `denied` runs on the CPU, so neither it nor what it alone feeds is known when building.
 */
export function buildTimeNodes(graph: Graph, denied: ReadonlySet<string> = new Set()): Set<Node> {
  const known = new Set(graph.initializers.keys());
  const nodes = new Set<Node>();
  for (const node of graph.nodes) {
    if (denied.has(qualifiedOpType(node))) {
      continue;
    }
    const inputs = node.inputs.filter(name => name);
    const constant = inputs.length > 0 && inputs.every(name => known.has(name));
    if (constant || answeredFromShapes(graph, node)) {
      nodes.add(node);
      node.outputs.forEach(name => name && known.add(name));
    }
  }
  return nodes;
}

/**
 * Whether shape inference gives the node's outputs from its inputs' shapes alone once those
 * are fixed (Shape, Size). Symbolic and unknown dims stand in as 1: any fixed size would do.
 */
function answeredFromShapes(graph: Graph, node: Node): boolean {
  const op = findOp(node.opType, node.domain);
  if (!op || node.outputs.length === 0) {
    return false;
  }
  const inputTypes = node.inputs.map((name): InferInput | undefined => {
    const constant = graph.initializers.get(name);
    if (constant) {
      return { dtype: constant.dtype, shape: [...constant.shape], value: constant };
    }
    const type = graph.valueTypes.get(name) ?? graph.inputs.find(input => input.name === name);
    return (
      type && { dtype: type.dtype, shape: type.shape?.map(d => (typeof d === 'number' ? d : 1)) }
    );
  });
  try {
    const ctx = { opset: opsetOf(graph, node.domain), node };
    const outputs = op.inferTypes(inputTypes, op.parseAttributes(ctx), ctx);
    return node.outputs.every((name, i) => !name || outputs[i]?.value !== undefined);
  } catch {
    // Inference may reject what it was not meant to see without values: the node then runs.
    return false;
  }
}
