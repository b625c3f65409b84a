/**
 * TF-TRT's segmentation of a model, as a report: which ONNX nodes an engine runs on WebGPU and
 * which fall back to the CPU reference ops, and the graph of nodes and tensors to draw it.
 */
import { Graph, Node, opsetOf } from '../ir/graph';
import { findOp } from '../ops/registry';
import { InferInput } from '../ops/types';
import type { LayerInfo } from '../runtime/engine';
import type { PartitionGraph, Segment } from './types';

export interface PartitionOptions {
  /**
   * TF-TRT's minimum_segment_size: an engine segment of fewer nodes falls back instead.
   * Default 1: every run of supported nodes becomes an engine.
   */
  minimumSegmentSize?: number;
}

type PartitionNode = PartitionGraph['nodes'][number];

/**
 * Splits `graph` into segments in its (topological) node order: each maximal run of nodes an
 * engine can compute is an engine segment, each run of the others a fallback segment that says
 * which ops it holds, and an engine segment under `minimumSegmentSize` nodes falls back too.
 * An engine computes a node that has a WebGPU kernel, and also one the builder evaluates
 * before any input is fed (see buildTimeNodes), such as the Shape of an input.
 *
 * With `layers` (an engine built from `graph`, or the engine's own graph, whose nodes are its
 * layers), each node is tagged with the layer that computes it; nodes the builder folded or
 * eliminated have none.
 */
export function partitionGraph(
  graph: Graph,
  layers?: readonly Pick<LayerInfo, 'name' | 'fusedNodes'>[],
  options: PartitionOptions = {}
): PartitionGraph {
  const minimumSegmentSize = options.minimumSegmentSize ?? 1;
  if (!Number.isInteger(minimumSegmentSize) || minimumSegmentSize < 1) {
    throw new Error(
      `minimumSegmentSize must be a positive integer, got ${String(options.minimumSegmentSize)}`
    );
  }
  const segments: Segment[] = [];
  const segmentOf = new Map<Node, string>();
  for (const run of supportRuns(graph)) {
    const tooSmall = run.reasons.length === 0 && run.nodes.length < minimumSegmentSize;
    const kind = run.reasons.length === 0 && !tooSmall ? 'engine' : 'fallback';
    const id = `${kind} ${segments.length}`;
    const reason = tooSmall
      ? `${run.nodes.length} node${run.nodes.length === 1 ? '' : 's'} < minimum_segment_size ${minimumSegmentSize}`
      : run.reasons.join('; ');
    segments.push({ id, kind, nodes: run.nodes.length, ...(reason && { reason }) });
    run.nodes.forEach(node => segmentOf.set(node, id));
  }

  const layerOf = layerNames(layers ?? []);
  const ids = new UniqueIds(graph.nodes.map(node => node.name));
  const inputIds = graph.inputs.map(input => ids.claim(input.name, 'input'));
  const outputIds = graph.outputs.map(output => ids.claim(output.name, 'output'));
  const nodes: PartitionNode[] = [
    ...graph.inputs.map((input, i) => boundaryNode(inputIds[i], 'input')),
    ...graph.nodes.map(node => {
      const layer = layerOf.get(node.name);
      return {
        id: node.name,
        opType: node.opType,
        role: 'op' as const,
        segment: segmentOf.get(node)!,
        ...(layer !== undefined && { layer })
      };
    }),
    ...graph.outputs.map((output, i) => boundaryNode(outputIds[i], 'output'))
  ];

  // Initializers have no producer, so they draw no edge.
  const producer = new Map<string, string>();
  graph.inputs.forEach((input, i) => producer.set(input.name, inputIds[i]));
  for (const node of graph.nodes) {
    node.outputs.forEach(name => name && producer.set(name, node.name));
  }
  const edges: PartitionGraph['edges'] = [];
  const drawn = new Set<string>();
  const connect = (tensor: string, to: string) => {
    const from = producer.get(tensor);
    const key = JSON.stringify([from, to, tensor]);
    if (from !== undefined && !drawn.has(key)) {
      drawn.add(key);
      edges.push({ from, to, tensor });
    }
  };
  for (const node of graph.nodes) {
    node.inputs.forEach(name => name && connect(name, node.name));
  }
  graph.outputs.forEach((output, i) => connect(output.name, outputIds[i]));
  return { segments, nodes, edges };
}

function boundaryNode(id: string, role: 'input' | 'output'): PartitionNode {
  return { id, opType: role === 'input' ? 'Input' : 'Output', role };
}

/** Node ids: the node names, and the tensor names of graph inputs and outputs unless taken. */
class UniqueIds {
  private readonly taken: Set<string>;

  constructor(names: readonly string[]) {
    this.taken = new Set(names);
  }

  /** `name`, or "name (input)" / "name (output)" when a node or another end has it. */
  claim(name: string, role: 'input' | 'output'): string {
    let id = name;
    for (let n = 2; this.taken.has(id); n++) {
      id = n === 2 ? `${name} (${role})` : `${name} (${role} ${n - 1})`;
    }
    this.taken.add(id);
    return id;
  }
}

/**
 * The layer computing each node: the layer that lists it among its fused nodes or, for the
 * nodes of an engine's own graph, the layer of the node's name.
 */
function layerNames(
  layers: readonly Pick<LayerInfo, 'name' | 'fusedNodes'>[]
): Map<string, string> {
  const layerOf = new Map<string, string>();
  const tag = (node: string, layer: string) => {
    if (!layerOf.has(node)) {
      layerOf.set(node, layer);
    }
  };
  for (const layer of layers) {
    layer.fusedNodes.forEach(node => tag(node, layer.name));
  }
  for (const layer of layers) {
    tag(layer.name, layer.name);
  }
  return layerOf;
}

/** Consecutive nodes of one support: `reasons` is empty for nodes an engine computes. */
interface SupportRun {
  nodes: Node[];
  reasons: string[];
}

function supportRuns(graph: Graph): SupportRun[] {
  const atBuildTime = buildTimeNodes(graph);
  const runs: SupportRun[] = [];
  for (const node of graph.nodes) {
    const reason = atBuildTime.has(node) ? undefined : fallbackReason(node);
    const last = runs[runs.length - 1];
    if (last && (last.reasons.length === 0) === (reason === undefined)) {
      last.nodes.push(node);
      if (reason !== undefined && !last.reasons.includes(reason)) {
        last.reasons.push(reason);
      }
    } else {
      runs.push({ nodes: [node], reasons: reason === undefined ? [] : [reason] });
    }
  }
  return runs;
}

/** The op type, with its domain when that is not ai.onnx: "Conv", "com.microsoft::Attention". */
export function qualifiedOpType(node: Pick<Node, 'opType' | 'domain'>): string {
  return node.domain ? `${node.domain}::${node.opType}` : node.opType;
}

/** Why no engine computes `node`, or undefined when it has a WebGPU kernel. */
function fallbackReason(node: Node): string | undefined {
  const op = findOp(node.opType, node.domain);
  const name = qualifiedOpType(node);
  if (!op) {
    return `${name} is not supported`;
  }
  return op.webgpu ? undefined : `${name} has no WebGPU kernel`;
}

/**
 * The nodes whose outputs the builder knows before any input is fed: it fixes every input's
 * shape, then answers Shape and Size from shapes and folds what reads only constants into
 * initializers (foldConstants). Such nodes need no kernel. Folding has a size rule (a node
 * that would build a large tensor from a small one stays) that needs the concrete shapes,
 * which a model's symbolic dims do not give: it is not applied here.
 */
function buildTimeNodes(graph: Graph): Set<Node> {
  const known = new Set(graph.initializers.keys());
  const nodes = new Set<Node>();
  for (const node of graph.nodes) {
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
