/**
 * Vertical fusion (TensorRT's conv/GEMM + bias + activation + residual fusion): a Conv,
 * MatMul or Gemm absorbs the elementwise work that follows it, and one kernel computes
 *
 *   Y = activation(layer(X) + bias + Z)
 *
 * storing Y once instead of writing and reading every step in between. Following the
 * layer's output through values that one node reads and the caller does not, it absorbs,
 * in this order:
 * 1. Adds of a constant bias that varies along the layer's channels only (Conv: axis 1;
 *    GEMM: the last axis), and for Conv Muls by such a constant scale: folded into the
 *    layer's bias and weights;
 * 2. one Add of a residual Z of exactly the layer's output shape;
 * 3. one activation (ops/activation.ts).
 * The activation ends the chain: activation(x) + z is not activation(x + z).
 *
 * The fused node (webtrt::FusedConv / webtrt::FusedMatMul) takes the name of the layer and
 * the place of the last node it absorbs, where every value it reads (Z included) is
 * computed; it lists every node it replaces in `fusedFrom`.
 */
import { isFloat } from '../../ir/dtype';
import { AttributeValue, Dim, Graph, Node, opsetOf } from '../../ir/graph';
import { stridesOf, Tensor } from '../../ir/tensor';
import { Activation, activationAttributes, activationOfNode } from '../../ops/activation';
import { Attributes } from '../../ops/attributes';
import { broadcastConcrete, broadcastIndices } from '../../ops/broadcast';
import { PassResult, rewriteGraph } from '../pass';
import { graphOutputNames, onlyReadBy, readersOf, sameKnownShape, ValueNames } from './values';

/** The graph being rewritten: what the fusions read, and where they record their edits. */
interface FusionContext {
  graph: Graph;
  readers: Map<string, Node[]>;
  outputs: Set<string>;
  names: ValueNames;
  initializers: Map<string, Tensor>;
  /** Nodes already absorbed into a fused layer. */
  claimed: Set<Node>;
}

/**
 * A layer being grown. It says whether it can fold a constant added to or multiplied with
 * its output, and finally what node it has become.
 */
interface GrowingLayer {
  addConstant(constant: Tensor): boolean;
  multiplyConstant(constant: Tensor): boolean;
  /**
   * The fused node's op type, inputs (all before Z, '' for an omitted one) and attributes
   * (activation excluded).
   */
  fused(): { opType: string; inputs: string[]; attributes: Record<string, AttributeValue> };
}

/** How a pass starts growing a node: undefined when the node is no layer it fuses. */
type LayerStart = (node: Node, context: FusionContext) => GrowingLayer | undefined;

/** Conv → webtrt::FusedConv. */
export function fuseConvActivation(graph: Graph): PassResult {
  return fuseLayers(graph, startConv);
}

/** MatMul or Gemm → webtrt::FusedMatMul. */
export function fuseMatMulActivation(graph: Graph): PassResult {
  return fuseLayers(graph, startGemm);
}

function fuseLayers(graph: Graph, start: LayerStart): PassResult {
  const context: FusionContext = {
    graph,
    readers: readersOf(graph),
    outputs: graphOutputNames(graph),
    names: new ValueNames(graph),
    initializers: new Map(graph.initializers),
    claimed: new Set()
  };
  /** Replacements of the graph's nodes; undefined removes one. */
  const rewrites = new Map<Node, Node | undefined>();
  const changes: string[] = [];
  for (const head of graph.nodes) {
    const layer = start(head, context);
    if (!layer) {
      continue;
    }
    const chain = grow(head, layer, context);
    if (chain.absorbed.length === 0) {
      continue;
    }
    const { opType, inputs, attributes } = layer.fused();
    const nodes = [head, ...chain.absorbed];
    const fused: Node = {
      name: head.name,
      opType,
      domain: 'webtrt',
      inputs: chain.residual ? [...inputs, chain.residual] : withoutTrailingOmissions(inputs),
      outputs: [chain.output],
      attributes: { ...attributes, ...activationAttributes(chain.activation) },
      fusedFrom: nodes.flatMap(node => node.fusedFrom ?? [node.name])
    };
    nodes.forEach(node => rewrites.set(node, undefined));
    rewrites.set(chain.absorbed[chain.absorbed.length - 1], fused);
    changes.push(
      `fused ${head.opType} '${head.name}' with ${chain.absorbed.map(n => `${n.opType} '${n.name}'`).join(', ')} into ${opType} '${head.name}'`
    );
  }
  const nodes = graph.nodes.flatMap(node => {
    const rewritten = rewrites.has(node) ? rewrites.get(node) : node;
    return rewritten ? [rewritten] : [];
  });
  return {
    graph: rewriteGraph(graph, { nodes, initializers: context.initializers }),
    changes
  };
}

/** `inputs` without the omitted optional inputs ('') at their end. */
function withoutTrailingOmissions(inputs: string[]): string[] {
  let end = inputs.length;
  while (end > 0 && inputs[end - 1] === '') {
    end--;
  }
  return inputs.slice(0, end);
}

interface Chain {
  /** The absorbed nodes, in order. */
  absorbed: Node[];
  /** The value the fused layer produces: the last absorbed node's output. */
  output: string;
  residual?: string;
  activation?: Activation;
}

/** Absorbs what follows `head`: constant biases and scales, a residual, an activation. */
function grow(head: Node, layer: GrowingLayer, context: FusionContext): Chain {
  const chain: Chain = { absorbed: [], output: head.outputs[0] };
  const shape = context.graph.valueTypes.get(chain.output)?.shape;
  let next = soleReader(chain.output, context);
  const absorb = (node: Node) => {
    chain.absorbed.push(node);
    chain.output = node.outputs[0];
    context.claimed.add(node);
    next = soleReader(chain.output, context);
  };
  while (next && foldsConstant(next, chain.output, layer, context)) {
    absorb(next);
  }
  const residual = next?.opType === 'Add' ? otherOperand(next, chain.output, context) : undefined;
  if (next && residual && sameKnownShape(context.graph.valueTypes.get(residual)?.shape, shape)) {
    chain.residual = residual;
    absorb(next);
  }
  const activation =
    next?.inputs[0] === chain.output && next.outputs.length === 1
      ? activationOfNode(next, opsetOf(context.graph), context.initializers)
      : undefined;
  if (next && activation) {
    chain.activation = activation;
    absorb(next);
  }
  return chain;
}

/** Whether `node` adds a constant to `value` or multiplies it by one, and the layer folds it. */
function foldsConstant(
  node: Node,
  value: string,
  layer: GrowingLayer,
  context: FusionContext
): boolean {
  const other = otherOperand(node, value, context);
  const constant = other ? context.initializers.get(other) : undefined;
  if (!constant) {
    return false;
  }
  return node.opType === 'Add' ? layer.addConstant(constant) : layer.multiplyConstant(constant);
}

/** The node that alone reads `value` (no graph output), when no fusion has absorbed it. */
function soleReader(value: string, context: FusionContext): Node | undefined {
  const reader = context.readers.get(value)?.[0];
  return reader &&
    !context.claimed.has(reader) &&
    onlyReadBy(value, reader, context.readers, context.outputs)
    ? reader
    : undefined;
}

/** The other operand of a two-input Add or Mul of `value`, when it has value's type. */
function otherOperand(node: Node, value: string, context: FusionContext): string | undefined {
  if (node.domain !== '' || !['Add', 'Mul'].includes(node.opType) || node.inputs.length !== 2) {
    return undefined;
  }
  const [a, b] = node.inputs;
  const other = a === value ? b : a;
  const types = context.graph.valueTypes;
  return other !== value && types.get(other)?.dtype === types.get(value)?.dtype ? other : undefined;
}

/** A layer's output type, when it is floating point: fused layers compute floats. */
function floatOutput(node: Node, context: FusionContext): Dim[] | undefined {
  const type = context.graph.valueTypes.get(node.outputs[0]);
  return type?.shape && isFloat(type.dtype) ? type.shape : undefined;
}

/**
 * The values of a constant that, broadcast against an output of rank `rank`, varies along
 * `axis` only, one per index of that axis (`extent` of them); undefined for any other.
 */
function valuesAlongAxis(
  constant: Tensor,
  rank: number,
  axis: number,
  extent: Dim
): Float64Array | undefined {
  const shift = rank - constant.rank;
  const fits =
    shift >= 0 && constant.shape.every((d, i) => d === 1 || (i + shift === axis && d === extent));
  if (!fits || typeof extent !== 'number') {
    return undefined;
  }
  const values = constant.toNumbers();
  return Float64Array.from({ length: extent }, (_, c) => values[constant.size === 1 ? 0 : c]);
}

// --- Conv ------------------------------------------------------------------------------

/**
 * A Conv growing into webtrt::FusedConv. Constants fold into y = scale * conv(X, W) + shift
 * per output channel (shift starting at B), stored at the end as W * scale and B = shift:
 * both need B constant or absent, and a scale needs W constant.
 */
function startConv(conv: Node, context: FusionContext): GrowingLayer | undefined {
  const shape = floatOutput(conv, context);
  if (conv.opType !== 'Conv' || conv.domain !== '' || !shape || shape.length < 3) {
    return undefined;
  }
  const [x, wName, bName = ''] = conv.inputs;
  const w = context.initializers.get(wName);
  const b = bName ? context.initializers.get(bName) : undefined;
  const perChannel = (constant: Tensor) =>
    !bName || b ? valuesAlongAxis(constant, shape.length, 1, shape[1]) : undefined;
  /** Undefined while every channel's scale is 1, and while the bias is still B. */
  let scale: Float64Array | undefined;
  let shift: Float64Array | undefined;
  const currentShift = (channels: number) =>
    shift ?? (b ? b.toNumbers() : new Float64Array(channels));
  return {
    addConstant: constant => {
      const values = perChannel(constant);
      if (values) {
        shift = currentShift(values.length).map((t, c) => t + values[c]);
      }
      return values !== undefined;
    },
    multiplyConstant: constant => {
      const values = w && perChannel(constant);
      if (values) {
        scale = (scale ?? new Float64Array(values.length).fill(1)).map((s, c) => s * values[c]);
        shift = currentShift(values.length).map((t, c) => t * values[c]);
      }
      return values !== undefined;
    },
    fused: () => {
      const inputs = [x, wName, bName];
      if (scale) {
        inputs[1] = addInitializer(context, `${wName}_scaled`, scaleChannels(w!, scale));
      }
      if (shift) {
        const bias = Tensor.fromNumbers(w?.dtype ?? b!.dtype, [shift.length], shift);
        inputs[2] = addInitializer(context, `${bName || `${conv.name}_B`}_fused`, bias);
      }
      return { opType: 'FusedConv', inputs, attributes: { ...conv.attributes } };
    }
  };
}

/** `weights` with each output channel (axis 0) multiplied by its factor, in float64. */
function scaleChannels(weights: Tensor, factors: Float64Array): Tensor {
  const perChannel = stridesOf(weights.shape)[0];
  const values = weights.toNumbers().map((v, i) => v * factors[Math.floor(i / perChannel)]);
  return Tensor.fromNumbers(weights.dtype, weights.shape, values);
}

// --- MatMul and Gemm -------------------------------------------------------------------

/**
 * A MatMul or Gemm growing into webtrt::FusedMatMul, whose bias is Gemm's beta * C: a
 * constant C is scaled by beta, a computed one taken as it is when beta is 1 (else the
 * Gemm stays). Constant biases that vary along the last axis only add to a constant C.
 */
function startGemm(node: Node, context: FusionContext): GrowingLayer | undefined {
  const shape = floatOutput(node, context);
  const isGemm = node.opType === 'Gemm';
  if ((node.opType !== 'MatMul' && !isGemm) || node.domain !== '' || !shape) {
    return undefined;
  }
  const attributes = new Attributes(node);
  const beta = isGemm ? attributes.float('beta', 1) : 1;
  const [a, b, given = ''] = node.inputs;
  const cName = beta === 0 ? '' : given;
  const constantC = cName ? context.initializers.get(cName) : undefined;
  if (cName && !constantC && beta !== 1) {
    return undefined;
  }
  /** The constant bias, when it is no longer C as given (a new initializer at the end). */
  let folded = constantC && beta !== 1 ? scaled(constantC, beta) : undefined;
  return {
    addConstant: constant => {
      const last = shape.length - 1;
      if ((cName && !constantC) || !valuesAlongAxis(constant, shape.length, last, shape[last])) {
        return false;
      }
      const bias = folded ?? constantC;
      folded = bias ? broadcastSum(bias, constant) : constant;
      return true;
    },
    multiplyConstant: () => false,
    fused: () => {
      const c = folded
        ? addInitializer(context, `${cName || `${node.name}_C`}_fused`, folded)
        : cName;
      return {
        opType: 'FusedMatMul',
        inputs: [a, b, c],
        attributes: Object.fromEntries(
          Object.entries(node.attributes).filter(([name]) => PRODUCT_ATTRIBUTES.includes(name))
        )
      };
    }
  };
}

/** The attributes of Gemm that FusedMatMul shares (beta is folded into the bias). */
const PRODUCT_ATTRIBUTES = ['alpha', 'transA', 'transB'];

/** factor * t, in t's type. */
function scaled(t: Tensor, factor: number): Tensor {
  return Tensor.fromNumbers(
    t.dtype,
    t.shape,
    t.toNumbers().map(v => v * factor)
  );
}

/** a + b with numpy broadcasting, in a's type. */
function broadcastSum(a: Tensor, b: Tensor): Tensor {
  const shape = broadcastConcrete([a.shape, b.shape]);
  const [aValues, bValues] = [a.toNumbers(), b.toNumbers()];
  const bIndices = broadcastIndices(b.shape, shape);
  const values = Float64Array.from(
    broadcastIndices(a.shape, shape),
    (ai, i) => aValues[ai] + bValues[bIndices[i]]
  );
  return Tensor.fromNumbers(a.dtype, shape, values);
}

/** Adds a tensor under a fresh name derived from `base`; returns the name. */
function addInitializer(context: FusionContext, base: string, tensor: Tensor): string {
  const name = context.names.fresh(base);
  context.initializers.set(name, tensor);
  return name;
}
