import { isFloat } from '../../ir/dtype';
import { AttributeValue, Dim, Graph, Node, opsetOf } from '../../ir/graph';
import { Attributes } from '../../ops/attributes';
import { PassResult, rewriteGraph } from '../pass';
import { graphOutputNames, onlyReadBy, producersOf, readersOf } from './values';

/**
 * Fuses scaled dot-product attention, as exporters spell it, into one webtrt::Attention
 * (ops/attention.ts), whose kernel never stores the S_q x S_k scores:
 *
 *   Q, K, V  [B, S, H*d] → Reshape [B, S, H, d] → Transpose to [B, H, S, d] (K to [B, H, d, S],
 *            in one Transpose or two)
 *   MatMul(Q, Kᵀ) → Mul or Div by a constant → Add(mask)? → Softmax(last axis) → MatMul(·, V)
 *   → Transpose [0, 2, 1, 3] → Reshape [B, S, H*d]
 *
 * The scale may also sit on Q and K before the product (torch's scaled_dot_product_attention
 * multiplies each by sqrt(scale)), or anywhere along their Reshape / Transpose path; the
 * factors multiply into the op's `scale`. A scale after the mask Add would scale the mask
 * too and stops the match. The Attention reads the Linear outputs [B, S, H*d] directly when
 * the head split is there to absorb; otherwise it reads the [B, H, S, d] tensors, and it
 * writes [B, S, H*d] only when the Transpose and Reshape merging the heads back follow.
 *
 * Every step from the first MatMul to the output must be read by the next step alone (a
 * graph output or a second reader keeps the chain unfused). Nodes of the Q, K and V paths
 * are removed when the Attention was their last reader; the shape arithmetic feeding the
 * Reshapes is left to dead-node elimination.
 */
export function fuseAttention(graph: Graph): PassResult {
  const context: MatchContext = {
    graph,
    producers: producersOf(graph),
    readers: readersOf(graph),
    outputs: graphOutputNames(graph)
  };
  const matches: AttentionMatch[] = [];
  const claimedChains = new Set<Node>();
  const claimedPaths = new Set<Node>();
  for (const node of graph.nodes) {
    const match = node.opType === 'Softmax' && node.domain === '' && matchAttention(node, context);
    if (
      !match ||
      [...match.chain, ...match.paths].some(n => claimedChains.has(n)) ||
      match.chain.some(n => claimedPaths.has(n))
    ) {
      continue;
    }
    matches.push(match);
    match.chain.forEach(n => claimedChains.add(n));
    match.paths.forEach(n => claimedPaths.add(n));
  }
  if (matches.length === 0) {
    return { graph: rewriteGraph(graph, {}), changes: [] };
  }

  const removed = removedNodes(context, claimedChains, claimedPaths);
  const replacements = new Map<Node, Node>();
  const changes: string[] = [];
  for (const match of matches) {
    const fused = new Set([...match.chain, ...match.paths.filter(n => removed.has(n))]);
    const fusedFrom = graph.nodes.filter(n => fused.has(n)).flatMap(n => n.fusedFrom ?? [n.name]);
    const attention: Node = {
      name: match.chain[0].name,
      opType: 'Attention',
      domain: 'webtrt',
      inputs: match.inputs,
      outputs: [match.output],
      attributes: match.attributes,
      fusedFrom
    };
    replacements.set(match.chain[match.chain.length - 1], attention);
    changes.push(
      `fused ${fused.size} nodes (${[...fused].map(n => n.opType).join(', ')}) into Attention ` +
        `'${attention.name}' (${match.attributes.num_heads} heads, scale ${match.attributes.scale})`
    );
  }
  const nodes = graph.nodes
    .filter(n => replacements.has(n) || !removed.has(n))
    .map(n => replacements.get(n) ?? n);
  return { graph: rewriteGraph(graph, { nodes }), changes };
}

interface MatchContext {
  graph: Graph;
  producers: Map<string, Node>;
  readers: Map<string, Node[]>;
  outputs: Set<string>;
}

interface AttentionMatch {
  /** From the first MatMul to the node writing the output, in graph order: all removed. */
  chain: Node[];
  /** The Q, K and V path nodes walked through: removed when nothing else reads them. */
  paths: Node[];
  inputs: string[];
  output: string;
  attributes: Record<string, AttributeValue> & { num_heads: number; scale: number };
}

/** The nodes to remove: every chain, and path nodes whose readers all go (repeatedly). */
function removedNodes(context: MatchContext, chains: Set<Node>, paths: Set<Node>): Set<Node> {
  const removed = new Set(chains);
  for (let grew = true; grew;) {
    grew = false;
    for (const node of paths) {
      const unread = node.outputs.every(
        name =>
          !context.outputs.has(name) &&
          (context.readers.get(name) ?? []).every(reader => removed.has(reader))
      );
      if (!removed.has(node) && unread) {
        removed.add(node);
        grew = true;
      }
    }
  }
  return removed;
}

function matchAttention(softmax: Node, context: MatchContext): AttentionMatch | undefined {
  const { graph } = context;
  const scoresType = graph.valueTypes.get(softmax.inputs[0]);
  if (
    scoresType?.shape?.length !== 4 ||
    !isFloat(scoresType.dtype) ||
    !softmaxOverLastAxis(graph, softmax)
  ) {
    return undefined;
  }
  const contextMatMul = soleReader(softmax.outputs[0], context);
  if (contextMatMul?.opType !== 'MatMul' || contextMatMul.inputs[0] !== softmax.outputs[0]) {
    return undefined;
  }
  const scores = scoresChain(softmax, context);
  if (!scores) {
    return undefined;
  }
  const { product } = scores;
  const [qDims, kDims] = product.inputs.map(name => graph.valueTypes.get(name)?.shape);
  const [pDims, vDims] = contextMatMul.inputs.map(name => graph.valueTypes.get(name)?.shape);
  // Only the plain batched product per (batch, head): no broadcast between operands.
  if (![qDims, kDims, pDims, vDims].every(d => d?.length === 4 && sameBatchDims(d, qDims!))) {
    return undefined;
  }

  const mergedOutput = headsMergedBack(contextMatMul, context);
  const q = pickOperand(traceOperand(product.inputs[0], 'rows', true, context), !!mergedOutput);
  const k = pickOperand(traceOperand(product.inputs[1], 'columns', true, context));
  const v = pickOperand(traceOperand(contextMatMul.inputs[1], 'rows', false, context));
  if (!q || !k || !v) {
    return undefined;
  }
  const heads = new Set([q.heads, k.heads, v.heads]);
  const [numHeads] = heads;
  if (heads.size !== 1 || typeof numHeads !== 'number') {
    return undefined;
  }
  const output = q.layout === 'merged' && mergedOutput ? mergedOutput : undefined;
  const chain = graph.nodes.filter(
    n =>
      scores.nodes.includes(n) || n === softmax || n === contextMatMul || output?.nodes.includes(n)
  );
  return {
    chain,
    paths: [...q.path, ...k.path, ...v.path],
    inputs: [q.value, k.value, v.value, ...(scores.mask ? [scores.mask] : [])],
    output: output?.value ?? contextMatMul.outputs[0],
    attributes: { num_heads: numHeads, scale: scores.scale * q.scale * k.scale }
  };
}

function softmaxOverLastAxis(graph: Graph, softmax: Node): boolean {
  // Before opset 13 Softmax's rows are all axes from `axis` on: the last one alone is axis 3.
  const axis = new Attributes(softmax).int('axis', opsetOf(graph) < 13 ? 1 : -1);
  return axis === 3 || axis === -1;
}

/** The one node reading `name` when nothing else does (nor the caller, as a graph output). */
function soleReader(name: string, { readers, outputs }: MatchContext): Node | undefined {
  const nodes = readers.get(name) ?? [];
  return nodes.length === 1 && !outputs.has(name) ? nodes[0] : undefined;
}

/** Whether two 4-D shapes have the same known leading (batch, heads) dims. */
function sameBatchDims(a: readonly Dim[], b: readonly Dim[]): boolean {
  return [0, 1].every(i => a[i] !== null && a[i] === b[i]);
}

const sameKnownDim = (a: Dim | undefined, b: Dim | undefined) =>
  a !== null && a !== undefined && a === b;

// --- the scores: MatMul → scale → Add(mask)? → Softmax ------------------------------------

interface ScaledValue {
  /** The value before the scalar factors. */
  value: string;
  factor: number;
  nodes: Node[];
}

/**
 * A Mul or Div of a value by a float constant of one element: the value and the factor
 * (c for Mul(x, c) and Mul(c, x), 1 / c for Div(x, c)); undefined for any other node.
 */
function scalarStep(node: Node, graph: Graph): { input: string; factor: number } | undefined {
  if (node.domain !== '' || (node.opType !== 'Mul' && node.opType !== 'Div')) {
    return undefined;
  }
  const constantAt = node.inputs.findIndex(name => graph.initializers.has(name));
  const constant = graph.initializers.get(node.inputs[constantAt]);
  const input = node.inputs[1 - constantAt];
  const rank = graph.valueTypes.get(input)?.shape?.length;
  if (
    !constant ||
    constant.size !== 1 ||
    !isFloat(constant.dtype) ||
    rank === undefined ||
    constant.rank > rank ||
    (node.opType === 'Div' && constantAt !== 1)
  ) {
    return undefined;
  }
  const c = constant.toNumbers()[0];
  return { input, factor: node.opType === 'Mul' ? c : 1 / c };
}

/**
 * Walks back from `value` (read by `reader`) through Mul / Div by scalar constants, each
 * read by the next step alone.
 */
function throughScalars(value: string, reader: Node, context: MatchContext): ScaledValue {
  const nodes: Node[] = [];
  let factor = 1;
  for (let current = value, next = reader; ;) {
    const node = context.producers.get(current);
    const step = node && scalarStep(node, context.graph);
    if (!step || !onlyReadBy(current, next, context.readers, context.outputs)) {
      return { value: current, factor, nodes };
    }
    factor *= step.factor;
    nodes.push(node!);
    [current, next] = [step.input, node!];
  }
}

interface Scores {
  /** MatMul(Q, Kᵀ). */
  product: Node;
  scale: number;
  mask?: string;
  /** The product and every node from it to the Softmax. */
  nodes: Node[];
}

function scoresChain(softmax: Node, context: MatchContext): Scores | undefined {
  const { producers, readers, outputs, graph } = context;
  const product = (scaled: ScaledValue, reader: Node) => {
    const node = producers.get(scaled.value);
    return node?.opType === 'MatMul' &&
      node.domain === '' &&
      onlyReadBy(scaled.value, reader, readers, outputs)
      ? node
      : undefined;
  };
  const afterMask = throughScalars(softmax.inputs[0], softmax, context);
  const unmasked = product(afterMask, afterMask.nodes.at(-1) ?? softmax);
  if (unmasked) {
    return { product: unmasked, scale: afterMask.factor, nodes: [unmasked, ...afterMask.nodes] };
  }
  // A factor between the Add and the Softmax would scale the mask as well.
  const add = producers.get(softmax.inputs[0]);
  if (
    add?.opType !== 'Add' ||
    add.domain !== '' ||
    !onlyReadBy(add.outputs[0], softmax, readers, outputs)
  ) {
    return undefined;
  }
  const scoresShape = graph.valueTypes.get(add.outputs[0])?.shape;
  for (const [scoresInput, mask] of [add.inputs, [...add.inputs].reverse()]) {
    const scaled = throughScalars(scoresInput, add, context);
    const matmul = product(scaled, scaled.nodes.at(-1) ?? add);
    const maskType = graph.valueTypes.get(mask);
    if (matmul && maskType?.shape && maskBroadcasts(maskType.shape, scoresShape!)) {
      return { product: matmul, scale: scaled.factor, mask, nodes: [matmul, ...scaled.nodes, add] };
    }
  }
  return undefined;
}

/** Whether the mask broadcasts to the scores without growing them (each dim 1 or the same). */
function maskBroadcasts(mask: readonly Dim[], scores: readonly Dim[]): boolean {
  const shift = scores.length - mask.length;
  return shift >= 0 && mask.every((d, i) => d === 1 || sameKnownDim(d, scores[i + shift]));
}

// --- Q, K and V: back through Transposes, scalar factors and the head split ---------------

/**
 * How the attention product reads an operand: 'rows' as [B, H, S, d] (Q, V), 'columns'
 * as [B, H, d, S] (Kᵀ).
 */
type Role = 'rows' | 'columns';

/** For each role, the permutation from a [B, H, S, d] tensor, and from a [B, S, H, d] one. */
const ROLE_PERMUTATIONS: Record<Role, { split: number[]; heads: number[] }> = {
  rows: { split: [0, 1, 2, 3], heads: [0, 2, 1, 3] },
  columns: { split: [0, 1, 3, 2], heads: [0, 2, 3, 1] }
};

/** A tensor the Attention can read in place of the operand. */
interface OperandSource {
  value: string;
  layout: 'merged' | 'split';
  heads: Dim;
  scale: number;
  /** The nodes between the source and the operand. */
  path: Node[];
}

const samePermutation = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((axis, i) => axis === b[i]);

/**
 * Every tensor the operand `value` is a view of, nearest first: walking back through
 * Transposes (their permutations composed), Mul / Div by scalar constants (when
 * `scalable`) and, last, a Reshape splitting the heads off the last axis.
 */
function traceOperand(
  value: string,
  role: Role,
  scalable: boolean,
  { graph, producers }: MatchContext
): OperandSource[] {
  const wanted = ROLE_PERMUTATIONS[role];
  const sources: OperandSource[] = [];
  // Axis i of the operand is axis permutation[i] of `current`.
  let permutation = [0, 1, 2, 3];
  let scale = 1;
  const path: Node[] = [];
  for (let current = value; ;) {
    const shape = graph.valueTypes.get(current)?.shape;
    if (shape?.length === 4 && samePermutation(permutation, wanted.split)) {
      sources.push({ value: current, layout: 'split', heads: shape[1], scale, path: [...path] });
    }
    const node = producers.get(current);
    if (!node || node.domain !== '') {
      return sources;
    }
    const step = scalable ? scalarStep(node, graph) : undefined;
    if (node.opType === 'Transpose') {
      const perm = new Attributes(node).ints('perm', [3, 2, 1, 0]);
      permutation = permutation.map(axis => perm[axis]);
      current = node.inputs[0];
    } else if (step) {
      scale *= step.factor;
      current = step.input;
    } else {
      const heads = node.opType === 'Reshape' && headsSplit(graph, node);
      if (heads && samePermutation(permutation, wanted.heads)) {
        path.push(node);
        sources.push({ value: node.inputs[0], layout: 'merged', heads, scale, path: [...path] });
      }
      return sources;
    }
    path.push(node);
  }
}

/**
 * The number of heads when `reshape` turns [B, S, H*d] into [B, S, H, d] (known dims),
 * else undefined.
 */
function headsSplit(graph: Graph, reshape: Node): number | undefined {
  const input = graph.valueTypes.get(reshape.inputs[0])?.shape;
  const output = graph.valueTypes.get(reshape.outputs[0])?.shape;
  if (input?.length !== 3 || output?.length !== 4) {
    return undefined;
  }
  const [heads, dim] = [output[2], output[3]];
  const fits =
    sameKnownDim(input[0], output[0]) &&
    sameKnownDim(input[1], output[1]) &&
    typeof heads === 'number' &&
    typeof dim === 'number' &&
    input[2] === heads * dim;
  return fits ? heads : undefined;
}

/** The farthest source of the operand: merged heads when `merged` is wanted and there. */
function pickOperand(sources: OperandSource[], merged = true): OperandSource | undefined {
  const candidates = merged ? sources : sources.filter(s => s.layout === 'split');
  return candidates.at(-1);
}

/**
 * The Transpose [0, 2, 1, 3] and Reshape to [B, S, H*d] merging the heads back after the
 * context MatMul, read by each other alone: the Reshape's output and both nodes.
 */
function headsMergedBack(
  contextMatMul: Node,
  context: MatchContext
): { value: string; nodes: Node[] } | undefined {
  const transpose = soleReader(contextMatMul.outputs[0], context);
  if (
    transpose?.opType !== 'Transpose' ||
    transpose.domain !== '' ||
    !samePermutation(new Attributes(transpose).ints('perm', []), [0, 2, 1, 3])
  ) {
    return undefined;
  }
  const reshape = soleReader(transpose.outputs[0], context);
  if (reshape?.opType !== 'Reshape' || reshape.domain !== '') {
    return undefined;
  }
  const heads = context.graph.valueTypes.get(transpose.outputs[0])?.shape;
  const merged = context.graph.valueTypes.get(reshape.outputs[0])?.shape;
  const fits =
    heads?.length === 4 &&
    merged?.length === 3 &&
    sameKnownDim(merged[0], heads[0]) &&
    sameKnownDim(merged[1], heads[1]) &&
    typeof heads[2] === 'number' &&
    typeof heads[3] === 'number' &&
    merged[2] === heads[2] * heads[3];
  return fits ? { value: reshape.outputs[0], nodes: [transpose, reshape] } : undefined;
}
