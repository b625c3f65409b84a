import { Graph, Node } from '../../ir/graph';
import { stridesOf, Tensor } from '../../ir/tensor';
import { PreparedNode, prepareNodes } from '../../runtime/prepare';
import { PassResult, rewriteGraph } from '../pass';
import {
  broadcastAttributes,
  graphOutputNames,
  onlyReadBy,
  producersOf,
  readersOf,
  ValueNames
} from './values';

/** BatchNormalization's attributes as the registry parses them. */
interface BatchNormAttributes {
  epsilon: number;
}

/** Gemm's attributes as the registry parses them (those a fold changes or reads). */
interface GemmAttributes {
  beta: number;
  transB: boolean;
}

/** BatchNormalization at inference as the per-channel map y = x * scale + shift. */
interface ChannelAffine {
  scale: Float64Array;
  shift: Float64Array;
}

/** The graph being rewritten: what the folds read, and where they record their edits. */
interface FoldContext {
  graph: Graph;
  prepared: Map<Node, PreparedNode>;
  producers: Map<string, Node>;
  readers: Map<string, Node[]>;
  outputs: Set<string>;
  names: ValueNames;
  initializers: Map<string, Tensor>;
  /** Replacements of the graph's nodes; undefined removes one. */
  rewrites: Map<Node, Node | undefined>;
}

/**
 * Folds an inference BatchNormalization into the weights of the layer before it, which
 * then produces the normalized value itself:
 * - Conv → BN: W[m] *= scale[m], B[m] = B[m] * scale[m] + shift[m];
 * - Gemm → BN (the channels are Gemm's columns): B's columns scaled, C = (beta C) * scale
 *   + shift with beta = 1;
 * - MatMul with a constant [K, N] weight and a rank-2 output, optionally followed by an Add
 *   of a per-column constant bias → BN: W's columns scaled and the bias mapped; when there
 *   was no Add, an Add of the shift takes the BN's place.
 * The BN's parameters, the weights and any bias must be initializers, and each folded
 * value read by the next node alone. Arithmetic is in float64, stored in the weights'
 * type; folded weights are new initializers, since the old ones may have other readers.
 */
export function foldBatchNormalization(graph: Graph): PassResult {
  const steps = prepareNodes(graph);
  const context: FoldContext = {
    graph,
    prepared: new Map(steps.map(step => [step.node, step])),
    producers: producersOf(graph),
    readers: readersOf(graph),
    outputs: graphOutputNames(graph),
    names: new ValueNames(graph),
    initializers: new Map(graph.initializers),
    rewrites: new Map()
  };
  const changes: string[] = [];
  for (const step of steps) {
    const bn = step.node;
    const producer = context.producers.get(bn.inputs[0]);
    if (
      bn.opType !== 'BatchNormalization' ||
      bn.domain !== '' ||
      !producer ||
      !readAlone(context, producer, bn)
    ) {
      continue;
    }
    const target = foldInto(context, step, producer);
    if (target) {
      changes.push(`folded BatchNormalization '${bn.name}' into ${target}`);
    }
  }
  const nodes = graph.nodes.flatMap(node => {
    const rewritten = context.rewrites.has(node) ? context.rewrites.get(node) : node;
    return rewritten ? [rewritten] : [];
  });
  return {
    graph: rewriteGraph(graph, { nodes, initializers: context.initializers }),
    changes
  };
}

/** Whether `producer` is untouched so far and its first output is read by `reader` alone. */
function readAlone(context: FoldContext, producer: Node, reader: Node): boolean {
  return (
    !context.rewrites.has(producer) &&
    onlyReadBy(producer.outputs[0], reader, context.readers, context.outputs)
  );
}

/** Folds `bn` into the layer producing its input; says into what, or undefined if it cannot. */
function foldInto(context: FoldContext, bn: PreparedNode, producer: Node): string | undefined {
  if (producer.domain !== '') {
    return undefined;
  }
  switch (producer.opType) {
    case 'Conv':
      return foldIntoConv(context, bn, producer);
    case 'Gemm':
      return foldIntoGemm(context, bn, producer);
    case 'MatMul':
      return foldIntoMatMul(context, bn, producer);
    case 'Add':
      return foldIntoMatMulAdd(context, bn, producer);
    default:
      return undefined;
  }
}

function foldIntoConv(context: FoldContext, bn: PreparedNode, conv: Node): string | undefined {
  const [x, wName, bName] = conv.inputs;
  const w = context.initializers.get(wName);
  if (!w || w.rank < 3) {
    return undefined;
  }
  const channels = w.shape[0];
  const bias = constantBias(context, bName, channels);
  const affine = channelAffine(context, bn, channels);
  if (!bias || !affine) {
    return undefined;
  }
  const inputs = [
    x,
    addInitializer(context, `${wName}_bn`, scaleAlongAxis(w, 0, affine.scale)),
    addInitializer(context, `${bName || conv.name + '_B'}_bn`, mapBias(w, bias, affine))
  ];
  replaceBy(context, bn, conv, { ...conv, inputs, outputs: [bn.node.outputs[0]] });
  return `Conv '${conv.name}'`;
}

function foldIntoGemm(context: FoldContext, bn: PreparedNode, gemm: Node): string | undefined {
  const [a, bName, cName] = gemm.inputs;
  const b = context.initializers.get(bName);
  const attrs = context.prepared.get(gemm)!.attrs as GemmAttributes;
  if (!b || b.rank !== 2) {
    return undefined;
  }
  const columnAxis = attrs.transB ? 0 : 1;
  const channels = b.shape[columnAxis];
  const c = constantBias(context, cName, channels);
  const affine = channelAffine(context, bn, channels);
  if (!c || !affine) {
    return undefined;
  }
  const inputs = [
    a,
    addInitializer(context, `${bName}_bn`, scaleAlongAxis(b, columnAxis, affine.scale)),
    addInitializer(
      context,
      `${cName || gemm.name + '_C'}_bn`,
      mapBias(
        b,
        c.map(v => v * attrs.beta),
        affine
      )
    )
  ];
  const attributes = { ...gemm.attributes, beta: 1 };
  replaceBy(context, bn, gemm, { ...gemm, inputs, attributes, outputs: [bn.node.outputs[0]] });
  return `Gemm '${gemm.name}'`;
}

/** MatMul → BN: the BN becomes an Add of its shift. */
function foldIntoMatMul(context: FoldContext, bn: PreparedNode, matmul: Node): string | undefined {
  const folded = foldMatMulWeight(context, bn, matmul, undefined);
  if (!folded) {
    return undefined;
  }
  const biasAdd: Node = {
    name: bn.node.name,
    opType: 'Add',
    domain: '',
    inputs: [matmul.outputs[0], folded.biasName],
    outputs: [bn.node.outputs[0]],
    attributes: broadcastAttributes(context.graph)
  };
  context.rewrites.set(bn.node, biasAdd);
  return `MatMul '${matmul.name}', replaced by an Add of its shift`;
}

/** MatMul → Add(bias) → BN: the Add adds the mapped bias and produces the BN's output. */
function foldIntoMatMulAdd(context: FoldContext, bn: PreparedNode, add: Node): string | undefined {
  const matmul = add.inputs
    .map(name => context.producers.get(name))
    .find(node => node?.opType === 'MatMul' && node.domain === '');
  const biasName = add.inputs.find(name => name !== matmul?.outputs[0]);
  if (!matmul || add.inputs.length !== 2 || !biasName || !readAlone(context, matmul, add)) {
    return undefined;
  }
  const folded = foldMatMulWeight(context, bn, matmul, biasName);
  if (!folded) {
    return undefined;
  }
  replaceBy(context, bn, add, {
    ...add,
    inputs: [matmul.outputs[0], folded.biasName],
    outputs: [bn.node.outputs[0]]
  });
  return `MatMul '${matmul.name}' and Add '${add.name}'`;
}

/**
 * Scales the columns of a MatMul's constant [K, N] weight (its output must be rank 2, so
 * that the BN's channels are its columns) and records the mapped bias (of `biasName`, or
 * zero) as a new initializer, whose name it returns.
 */
function foldMatMulWeight(
  context: FoldContext,
  bn: PreparedNode,
  matmul: Node,
  biasName: string | undefined
): { biasName: string } | undefined {
  const [a, wName] = matmul.inputs;
  const w = context.initializers.get(wName);
  const outputRank = context.graph.valueTypes.get(matmul.outputs[0])?.shape?.length;
  if (!w || w.rank !== 2 || outputRank !== 2) {
    return undefined;
  }
  const channels = w.shape[1];
  const bias = constantBias(context, biasName, channels);
  const affine = channelAffine(context, bn, channels);
  if (!bias || !affine) {
    return undefined;
  }
  const scaled = addInitializer(context, `${wName}_bn`, scaleAlongAxis(w, 1, affine.scale));
  context.rewrites.set(matmul, { ...matmul, inputs: [a, scaled] });
  const mapped = mapBias(w, bias, affine);
  return { biasName: addInitializer(context, `${biasName ?? bn.node.name + '_shift'}_bn`, mapped) };
}

/** Records that `layer` now produces what `bn` did, and `bn` is gone. */
function replaceBy(context: FoldContext, bn: PreparedNode, layer: Node, folded: Node): void {
  // The layer now computes the normalization too: the layer info and the partition graph
  // list both ONNX nodes under it.
  const fusedFrom = [layer, bn.node].flatMap(node => node.fusedFrom ?? [node.name]);
  context.rewrites.set(layer, { ...folded, fusedFrom });
  context.rewrites.set(bn.node, undefined);
}

/**
 * The BN's per-channel scale = gamma / sqrt(var + epsilon) and shift = beta - mean * scale,
 * when its four parameters are initializers with one value per channel (or one in all).
 */
function channelAffine(
  context: FoldContext,
  bn: PreparedNode,
  channels: number
): ChannelAffine | undefined {
  const parameters = bn.node.inputs.slice(1, 5).map(name => {
    const tensor = context.initializers.get(name);
    return tensor && channelValues(tensor, channels);
  });
  if (parameters.length !== 4 || parameters.some(values => !values)) {
    return undefined;
  }
  const [gamma, beta, mean, variance] = parameters as Float64Array[];
  const { epsilon } = bn.attrs as BatchNormAttributes;
  const scale = gamma.map((g, c) => g / Math.sqrt(variance[c] + epsilon));
  const shift = beta.map((b, c) => b - mean[c] * scale[c]);
  return { scale, shift };
}

/** A BN parameter's value per channel: shape [C] (or [C, 1, ...]), or one value for all. */
function channelValues(tensor: Tensor, channels: number): Float64Array | undefined {
  const values = tensor.toNumbers();
  if (tensor.size === 1) {
    return new Float64Array(channels).fill(values[0]);
  }
  return tensor.shape[0] === channels && tensor.size === channels ? values : undefined;
}

/**
 * The per-column values of an optional bias added to an [M, N] result, when it is an
 * initializer the same for every row ([N], [1, N], a scalar, ...); zeros when omitted.
 */
function constantBias(
  context: FoldContext,
  name: string | undefined,
  columns: number
): Float64Array | undefined {
  if (!name) {
    return new Float64Array(columns);
  }
  const bias = context.initializers.get(name);
  if (!bias || bias.rank > 2 || (bias.rank === 2 && bias.shape[0] !== 1)) {
    return undefined;
  }
  const width = bias.rank === 0 ? 1 : bias.shape[bias.rank - 1];
  if (width !== 1 && width !== columns) {
    return undefined;
  }
  const values = bias.toNumbers();
  return Float64Array.from({ length: columns }, (_, j) => values[width === 1 ? 0 : j]);
}

/** `weights` with every slice along `axis` multiplied by its factor, in float64. */
function scaleAlongAxis(weights: Tensor, axis: number, factors: Float64Array): Tensor {
  const stride = stridesOf(weights.shape)[axis];
  const extent = weights.shape[axis];
  const values = weights.toNumbers().map((v, i) => v * factors[Math.floor(i / stride) % extent]);
  return Tensor.fromNumbers(weights.dtype, weights.shape, values);
}

/** The bias after the BN, bias * scale + shift, in the type of `weights`. */
function mapBias(weights: Tensor, bias: Float64Array, affine: ChannelAffine): Tensor {
  const values = bias.map((b, c) => b * affine.scale[c] + affine.shift[c]);
  return Tensor.fromNumbers(weights.dtype, [bias.length], values);
}

/** Adds a tensor under a fresh name derived from `base`; returns the name. */
function addInitializer(context: FoldContext, base: string, tensor: Tensor): string {
  const name = context.names.fresh(base);
  context.initializers.set(name, tensor);
  return name;
}
