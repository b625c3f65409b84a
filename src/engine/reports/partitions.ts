/**
 * TF-TRT's segmentation of a model, as a report: which ONNX nodes an engine runs on WebGPU and
 * which fall back to the CPU reference ops, and the graph of nodes and tensors to draw it.
 */
import { segmentGraph, SegmentOptions, Segmentation } from '../builder/segment';
import { Graph } from '../ir/graph';
import type { LayerInfo } from '../runtime/engine';
import type { PartitionGraph } from './types';

type PartitionNode = PartitionGraph['nodes'][number];

/**
 * The picture of a model's segmentation (segmentGraph): its nodes, each in its segment, and
 * the tensors between them. `from` is the graph, segmented here with `options`, or a
 * segmentation already made.
 *
 * With `layers` (the layers of the engines built from it, or an engine's own graph, whose
 * nodes are its layers), each node is tagged with the layer that computes it; nodes the
 * builder folded or eliminated have none.
 */
export function partitionGraph(
  from: Graph | Segmentation,
  layers?: readonly Pick<LayerInfo, 'name' | 'fusedNodes'>[],
  options: SegmentOptions = {}
): PartitionGraph {
  const { graph, segments } = 'segments' in from ? from : segmentGraph(from, options);
  const segmentOf = new Map<string, string>();
  segments.forEach(({ id, nodes }) => nodes.forEach(node => segmentOf.set(node.name, id)));
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
        segment: segmentOf.get(node.name)!,
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
  return {
    segments: segments.map(({ id, kind, nodes, reason }) => ({
      id,
      kind,
      nodes: nodes.length,
      ...(reason && { reason })
    })),
    nodes,
    edges
  };
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
