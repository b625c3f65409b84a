/**
 * Layer precision (TensorRT's precision selection and reformatting layers): which layers of
 * an engine run in FP16, and the Cast layers where tensors cross between precisions.
 */
import { DataType, ONNX_DATA_TYPE_CODES } from '../../ir/dtype';
import { Graph, Node } from '../../ir/graph';
import { InferInput } from '../../ops/types';
import { castTensor } from '../../ops/elementwise';
import { PreparedNode, prepareNodes } from '../../runtime/prepare';
import { BuilderConfig, LayerPrecision, Precision } from '../config';
import { Pass, rewriteGraph } from '../pass';
import { heldPrecision } from './quantize-layers';
import { graphOutputNames, ValueNames } from './values';

export interface AssignPrecisionOptions {
  /**
   * The node names of the graph as imported. A layerPrecisions entry naming none of them is
   * an error; one naming a node that earlier passes removed (a folded constant) is not.
   * By default, the names of the nodes the pass sees and of the nodes they were fused from.
   */
  importedNodes?: Iterable<string>;
}

/**
 * The last pass of a build: every layer whose precision allows it (the builder precision or
 * its layerPrecisions entry), whose kernel declares `halfStorage`, and whose float32
 * outputs follow from its float32 inputs (inference turns them float16 when the inputs
 * are) runs in FP16: those inputs and outputs become float16. Weights read only by FP16
 * layers are converted to float16 here on the host; a weight that FP32 layers read too
 * gets a float16 copy. Where a float16 tensor meets an FP32 layer or a graph output, or a
 * float32 graph input or tensor meets an FP16 layer, a Cast is inserted before its first
 * reader, named as TensorRT names reformatting layers ('<tensor> reformat to float16').
 * Graph inputs and outputs keep their declared types; integer and bool tensors, and the
 * inputs a layer reads on the host, are untouched. FP16 layers compute in f32 and round
 * what they store to float16 (reductions such as LayerNormalization's statistics and
 * Softmax's sums stay f32 inside their kernels).
 */
export function assignPrecision(config: BuilderConfig, options: AssignPrecisionOptions = {}): Pass {
  const pass: Pass = graph => {
    const overrides = config.layerPrecisions ?? {};
    checkLayerNames(overrides, options.importedNodes ?? layerNames(graph));
    const prepared = prepareNodes(graph);
    const halfLayers = new Set<Node>();
    for (const step of prepared) {
      // A layer held to int8 is an INT8 layer by now; its inputs and outputs follow the
      // builder precision like any other layer's.
      const held = heldPrecision(step.node, overrides);
      const heldFloat = held === 'int8' ? undefined : held;
      const wanted = heldFloat ?? (allowsHalf(config.precision) ? 'fp16' : 'fp32');
      const reason = wanted === 'fp16' ? whyNoHalf(step, graph) : undefined;
      if (heldFloat === 'fp16' && reason) {
        throw new Error(
          `layerPrecisions holds layer '${step.node.name}' (${step.node.opType}) to fp16, but ${reason}`
        );
      }
      if (wanted === 'fp16' && !reason) {
        halfLayers.add(step.node);
      }
    }
    if (halfLayers.size === 0) {
      return { graph: rewriteGraph(graph, {}), changes: [] };
    }
    return convertLayers(graph, prepared, halfLayers);
  };
  return Object.defineProperty(pass, 'name', { value: 'assignPrecision' });
}

/** Whether a builder precision lets layers run in FP16 ('int8' is INT8 beside FP32). */
function allowsHalf(precision: Precision): boolean {
  return precision === 'fp16' || precision === 'best';
}

function layerNames(graph: Graph): string[] {
  return graph.nodes.flatMap(node => [node.name, ...(node.fusedFrom ?? [])]);
}

function checkLayerNames(overrides: Record<string, LayerPrecision>, known: Iterable<string>) {
  const names = new Set(known);
  const unknown = Object.keys(overrides).filter(name => !names.has(name));
  if (unknown.length > 0) {
    throw new Error(
      `layerPrecisions names ${unknown.map(n => `'${n}'`).join(', ')}, which the graph has no node of`
    );
  }
}

/** The inputs of `step` its kernel reads on the device, by index. */
function deviceInputs(step: PreparedNode): number[] {
  return step.node.inputs.flatMap((name, i) => (name && !keepsType(step, i) ? [i] : []));
}

/** Whether input `i` of `step` keeps its type in FP16: read on the host, or held in float32. */
function keepsType(step: PreparedNode, i: number): boolean {
  return step.hostInputs.includes(i) || (step.op.webgpu?.float32Inputs?.includes(i) ?? false);
}

/** What inference knows of a value: its type, and its elements when it is a weight. */
function inferInputOf(graph: Graph, name: string): InferInput | undefined {
  const weight = graph.initializers.get(name);
  return weight
    ? { dtype: weight.dtype, shape: [...weight.shape], value: weight }
    : graph.valueTypes.get(name);
}

/** Why `step` cannot run in FP16, or undefined when it can. */
function whyNoHalf(step: PreparedNode, graph: Graph): string | undefined {
  if (!step.op.webgpu?.halfStorage) {
    return 'its kernel has no FP16 variant';
  }
  const inputs = step.node.inputs.map(name => (name ? inferInputOf(graph, name) : undefined));
  const outputs = step.node.outputs.map(name => (name ? inferInputOf(graph, name) : undefined));
  const onDevice = deviceInputs(step);
  const other = [...onDevice.map(i => inputs[i]), ...outputs].find(
    type => type?.dtype === 'float16' || type?.dtype === 'float64'
  );
  if (other) {
    return `it computes in ${other.dtype}`;
  }
  const halved = new Set(onDevice.filter(i => inputs[i]?.dtype === 'float32'));
  if (halved.size === 0 || !outputs.some(type => type?.dtype === 'float32')) {
    return 'it computes no float32 values from float32 inputs';
  }
  const asHalf = inputs.map((type, i) =>
    halved.has(i) ? { dtype: 'float16' as const, shape: type!.shape } : type
  );
  let inferred: InferInput[];
  try {
    inferred = step.op.inferTypes(asHalf, step.attrs, step.ctx);
  } catch {
    return 'its op does not take float16 inputs';
  }
  const follows = outputs.every(
    (type, i) => type?.dtype !== 'float32' || inferred[i]?.dtype === 'float16'
  );
  return follows ? undefined : 'its float32 outputs do not follow its input types';
}

/** The rewrite once the FP16 layers are chosen. */
function convertLayers(
  graph: Graph,
  prepared: readonly PreparedNode[],
  halfLayers: ReadonlySet<Node>
): { graph: Graph; changes: string[] } {
  const names = new ValueNames(graph);
  const outputs = graphOutputNames(graph);
  const initializers = new Map(graph.initializers);
  const changes: string[] = [];
  const isFloat32 = (name: string) =>
    (graph.initializers.get(name) ?? graph.valueTypes.get(name))?.dtype === 'float32';

  // The float32 values FP16 layers produce become float16; a graph output among them is
  // renamed, and the name goes to the reformat back to float32.
  const halfValues = new Map<string, string>();
  for (const node of halfLayers) {
    for (const name of node.outputs) {
      if (name && isFloat32(name)) {
        halfValues.set(name, outputs.has(name) ? names.fresh(`${name}_fp16`) : name);
      }
    }
  }

  // Weights FP16 layers read: converted on the host, in place when nothing reads them in
  // float32, else as a copy.
  const weightReads = new Map<string, { half: boolean; full: boolean }>();
  for (const step of prepared) {
    step.node.inputs.forEach((name, i) => {
      if (!name || !graph.initializers.has(name) || !isFloat32(name)) {
        return;
      }
      const reads = weightReads.get(name) ?? { half: false, full: outputs.has(name) };
      const half = halfLayers.has(step.node) && !keepsType(step, i);
      reads.half ||= half;
      reads.full ||= !half;
      weightReads.set(name, reads);
    });
  }
  const halfWeights = new Map<string, string>();
  for (const [name, reads] of weightReads) {
    if (reads.half) {
      const target = reads.full ? names.fresh(`${name}_fp16`) : name;
      initializers.set(target, castTensor(graph.initializers.get(name)!, 'float16'));
      halfWeights.set(name, target);
      changes.push(`weight '${name}' stored as float16${reads.full ? ` in '${target}'` : ''}`);
    }
  }

  /** One reformat per value and direction, before the first node that needs it. */
  const reformats = new Map<string, { node: Node; before: number }>();
  const reformat = (source: string, to: DataType, at: number, target?: string): string => {
    const key = `${source} ${to}`;
    const existing = reformats.get(key);
    if (existing) {
      return existing.node.outputs[0];
    }
    const output = target ?? names.fresh(`${source}_${to === 'float16' ? 'fp16' : 'fp32'}`);
    const node: Node = {
      name: `${target ?? source} reformat to ${to}`,
      opType: 'Cast',
      domain: '',
      inputs: [source],
      outputs: [output],
      attributes: { to: ONNX_DATA_TYPE_CODES[to] }
    };
    reformats.set(key, { node, before: at });
    return output;
  };

  const nodes = prepared.map((step, at) => {
    const { node } = step;
    const half = halfLayers.has(node);
    const inputs = node.inputs.map((name, i) => {
      if (!name || keepsType(step, i)) {
        return name;
      }
      if (half && halfWeights.has(name)) {
        return halfWeights.get(name)!;
      }
      const halfValue = halfValues.get(name);
      if (half && !halfValue && isFloat32(name) && !graph.initializers.has(name)) {
        return reformat(name, 'float16', at);
      }
      if (!half && halfValue) {
        return outputs.has(name) ? name : reformat(halfValue, 'float32', at);
      }
      return halfValue ?? name;
    });
    const renamed = node.outputs.map(name => halfValues.get(name) ?? name);
    if (!half) {
      return { ...node, inputs };
    }
    changes.push(`layer '${node.name}' (${node.opType}) runs in fp16`);
    return { ...node, inputs, outputs: renamed };
  });
  // Graph outputs an FP16 layer produces come back to float32 under their own names, right
  // after their layer so that FP32 readers find them.
  for (const [name, halfName] of halfValues) {
    if (name !== halfName) {
      const producer = nodes.findIndex(node => node.outputs.includes(halfName));
      reformat(halfName, 'float32', producer + 1, name);
    }
  }

  // Each reformat goes in front of the node it was made for (stable: in order of making).
  const inserted = [...reformats.values()];
  for (const { node } of inserted) {
    changes.push(`reformat '${node.name}' inserted`);
  }
  const ordered = nodes.flatMap((node, at) => [
    ...inserted.filter(r => r.before === at).map(r => r.node),
    node
  ]);
  ordered.push(...inserted.filter(r => r.before === nodes.length).map(r => r.node));
  return { graph: rewriteGraph(graph, { nodes: ordered, initializers }), changes };
}
