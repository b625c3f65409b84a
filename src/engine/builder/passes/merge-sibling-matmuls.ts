import { isFloat } from '../../ir/dtype';
import { Graph, Node, opsetOf } from '../../ir/graph';
import { Tensor } from '../../ir/tensor';
import { Attributes } from '../../ops/attributes';
import { PassResult, rewriteGraph } from '../pass';
import { broadcastAttributes, graphOutputNames, onlyReadBy, readersOf, ValueNames } from './values';

/**
 * Horizontal fusion (TensorRT's horizontal layer fusion): sibling projections that read the
 * same tensor A with constant weights of the same K become one wider product, which reads
 * A once and fills the GPU better than several narrow ones. A projection is
 *
 *   MatMul(A, W) with W a constant [K, N], maybe followed by an Add of a constant bias
 *   along the last axis (how exporters write Linear on A of any rank), or
 *   Gemm(A, W, C?) with W and C constant, C a bias along N, transA = 0, alpha = beta = 1.
 *
 * Siblings of one kind merge with their weights (and biases, zero where one has none)
 * side by side along N, in graph order. Where three siblings are the Q, K and V of one
 * webtrt::Attention that reads them with the heads merged ([B, S, H*d]), the Attention reads
 * the product packed (Q|K|V along the last axis, `qkv_hidden_sizes`) and nothing splits it.
 * Elsewhere each reader needs its own part back, through a Split that copies the whole
 * product once more: they merge only when reading A once saves more memory traffic than
 * that copy costs, (n - 1) * K > 2 * (N_1 + ... + N_n) elements per row of A.
 *
 * The merged layer takes the place of the first sibling, where A and the weights exist.
 */
export function mergeSiblingMatMuls(graph: Graph): PassResult {
  const readers = readersOf(graph);
  const outputs = graphOutputNames(graph);
  const groups = new Map<string, Projection[]>();
  for (const node of graph.nodes) {
    const projection = projectionOf(node, graph, readers, outputs);
    if (projection) {
      const key = [projection.kind, projection.input, projection.weight.shape[0]].join('\n');
      groups.set(key, [...(groups.get(key) ?? []), projection]);
    }
  }
  const byOutput = new Map([...groups.values()].flat().map(p => [p.output, p]));
  const names = new ValueNames(graph);
  const initializers = new Map(graph.initializers);
  /** Each first sibling's nodes and the nodes that take the place of the group. */
  const placed = new Map<Node, Node[]>();
  const removed = new Set<Node>();
  const rewiredAttentions = new Map<Node, Node>();
  const changes: string[] = [];
  const merge = (siblings: Projection[], reader: string): Node[] => {
    siblings.forEach(s => s.nodes.forEach(n => removed.add(n)));
    const merged = mergedProjection(siblings, graph, names, initializers);
    changes.push(
      `merged ${siblings.map(s => `${s.kind} '${s.nodes[0].name}'`).join(', ')} ` +
        `(N ${siblings.map(s => s.weight.shape[1]).join(' + ')}) into one, ${reader}`
    );
    return merged;
  };

  for (const attention of graph.nodes) {
    const siblings = packableQkv(attention, graph, byOutput, readers, outputs);
    if (!siblings || siblings.some(s => removed.has(s.nodes[0]))) {
      continue;
    }
    const nodes = merge(siblings, `read packed by Attention '${attention.name}'`);
    const packed = nodes[nodes.length - 1].outputs[0];
    placed.set(firstInGraph(graph, siblings), nodes);
    rewiredAttentions.set(attention, {
      ...attention,
      inputs: [packed, '', '', ...attention.inputs.slice(3)],
      attributes: {
        ...attention.attributes,
        qkv_hidden_sizes: siblings.map(s => s.weight.shape[1])
      }
    });
  }

  for (const group of groups.values()) {
    const siblings = group.filter(s => !removed.has(s.nodes[0]));
    const k = siblings[0]?.weight.shape[0];
    const n = siblings.reduce((total, s) => total + s.weight.shape[1], 0);
    if (siblings.length < 2 || (siblings.length - 1) * k <= 2 * n) {
      continue;
    }
    const nodes = merge(siblings, 'split for its readers');
    nodes.push(splitNode(graph, siblings, nodes[nodes.length - 1].outputs[0], names, initializers));
    placed.set(firstInGraph(graph, siblings), nodes);
  }

  const nodes = graph.nodes.flatMap(node => {
    const replacement = placed.get(node);
    if (replacement) {
      return replacement;
    }
    return removed.has(node) ? [] : [rewiredAttentions.get(node) ?? node];
  });
  return { graph: rewriteGraph(graph, { nodes, initializers }), changes };
}

interface Projection {
  kind: 'MatMul' | 'Gemm';
  /** The product, then the bias Add for a MatMul that has one. */
  nodes: Node[];
  input: string;
  /** The value its readers read: the product, or the sum with the bias. */
  output: string;
  /** [K, N], whatever the node's transB. */
  weight: Tensor;
  /** N values, when it has a bias. */
  bias?: Float64Array;
}

function firstInGraph(graph: Graph, siblings: Projection[]): Node {
  const first = new Set(siblings.map(s => s.nodes[0]));
  return graph.nodes.find(n => first.has(n))!;
}

/** A constant's values as a bias of N values along the last axis, or undefined. */
function biasValues(bias: Tensor | undefined, n: number, rank: number): Float64Array | undefined {
  const leadingOnes = bias?.shape.slice(0, -1).every(d => d === 1);
  if (!bias || !leadingOnes || bias.rank > rank || (bias.size !== n && bias.size !== 1)) {
    return undefined;
  }
  const values = bias.toNumbers();
  return bias.size === n ? values : new Float64Array(n).fill(values[0]);
}

function projectionOf(
  node: Node,
  graph: Graph,
  readers: Map<string, Node[]>,
  outputs: Set<string>
): Projection | undefined {
  const weight = graph.initializers.get(node.inputs[1]);
  const a = graph.valueTypes.get(node.inputs[0]);
  if (
    node.domain !== '' ||
    weight?.rank !== 2 ||
    !a?.shape ||
    a.shape.length < 2 ||
    !isFloat(a.dtype) ||
    weight.dtype !== a.dtype
  ) {
    return undefined;
  }
  const n = weight.shape[1];
  if (node.opType === 'MatMul') {
    const projection: Projection = {
      kind: 'MatMul',
      nodes: [node],
      input: node.inputs[0],
      output: node.outputs[0],
      weight
    };
    const add = readers.get(node.outputs[0])?.[0];
    const biasName = add?.inputs.find(name => name !== node.outputs[0]);
    const bias = biasValues(graph.initializers.get(biasName ?? ''), n, a.shape.length);
    if (
      add?.opType === 'Add' &&
      add.domain === '' &&
      bias &&
      onlyReadBy(node.outputs[0], add, readers, outputs)
    ) {
      return { ...projection, nodes: [node, add], output: add.outputs[0], bias };
    }
    return projection;
  }
  if (node.opType === 'Gemm') {
    const attrs = new Attributes(node);
    const c = node.inputs[2] ? graph.initializers.get(node.inputs[2]) : undefined;
    const transB = attrs.int('transB', 0) !== 0;
    const columns = transB ? weight.shape[0] : n;
    const bias = c && c.rank <= 2 ? biasValues(c, columns, 2) : undefined;
    if (
      attrs.int('transA', 0) !== 0 ||
      attrs.float('alpha', 1) !== 1 ||
      attrs.float('beta', 1) !== 1 ||
      (node.inputs[2] && !bias)
    ) {
      return undefined;
    }
    return {
      kind: 'Gemm',
      nodes: [node],
      input: node.inputs[0],
      output: node.outputs[0],
      weight: transB ? transposed(weight) : weight,
      bias
    };
  }
  return undefined;
}

function transposed(matrix: Tensor): Tensor {
  const [rows, columns] = matrix.shape;
  const values = matrix.toNumbers();
  const out = Float64Array.from({ length: values.length }, (_, i) => {
    const [column, row] = [Math.floor(i / rows), i % rows];
    return values[row * columns + column];
  });
  return Tensor.fromNumbers(matrix.dtype, [columns, rows], out);
}

/**
 * The Q, K and V projections of `attention` (in that order) when it reads them with the
 * heads merged, they are siblings of one kind, and nothing else reads them.
 */
function packableQkv(
  attention: Node,
  graph: Graph,
  byOutput: Map<string, Projection>,
  readers: Map<string, Node[]>,
  outputs: Set<string>
): Projection[] | undefined {
  if (attention.opType !== 'Attention' || attention.domain !== 'webtrt') {
    return undefined;
  }
  const qkv = attention.inputs.slice(0, 3);
  const siblings = qkv.map(name => byOutput.get(name));
  const [q] = siblings;
  const fits =
    new Set(qkv).size === 3 &&
    siblings.every(
      s =>
        s &&
        s.kind === q!.kind &&
        s.input === q!.input &&
        s.weight.shape[0] === q!.weight.shape[0] &&
        graph.valueTypes.get(s.output)?.shape?.length === 3 &&
        onlyReadBy(s.output, attention, readers, outputs)
    );
  return fits ? (siblings as Projection[]) : undefined;
}

/** One product with the siblings' weights (and biases) side by side, as they were. */
function mergedProjection(
  siblings: Projection[],
  graph: Graph,
  names: ValueNames,
  initializers: Map<string, Tensor>
): Node[] {
  const [first] = siblings;
  const k = first.weight.shape[0];
  const widths = siblings.map(s => s.weight.shape[1]);
  const n = widths.reduce((a, b) => a + b, 0);
  const weightValues = new Float64Array(k * n);
  const biasValues = new Float64Array(n);
  let column = 0;
  for (const [i, s] of siblings.entries()) {
    const values = s.weight.toNumbers();
    for (let row = 0; row < k; row++) {
      weightValues.set(values.subarray(row * widths[i], (row + 1) * widths[i]), row * n + column);
    }
    biasValues.set(s.bias ?? new Float64Array(widths[i]), column);
    column += widths[i];
  }
  const dtype = first.weight.dtype;
  const base = first.nodes[0].name;
  const weight = names.fresh(`${base}/merged_weight`);
  initializers.set(weight, Tensor.fromNumbers(dtype, [k, n], weightValues));
  const hasBias = siblings.some(s => s.bias);
  const bias = hasBias ? names.fresh(`${base}/merged_bias`) : '';
  if (hasBias) {
    initializers.set(bias, Tensor.fromNumbers(dtype, [n], biasValues));
  }
  const product = names.fresh(`${base}/merged_output`);
  const fusedFrom = (pick: (s: Projection) => Node | undefined) =>
    siblings.flatMap(s => {
      const node = pick(s);
      return node ? (node.fusedFrom ?? [node.name]) : [];
    });
  if (first.kind === 'Gemm') {
    return [
      {
        name: base,
        opType: 'Gemm',
        domain: '',
        inputs: [first.input, weight, ...(hasBias ? [bias] : [])],
        outputs: [product],
        attributes: hasBias ? broadcastAttributes(graph) : {},
        fusedFrom: fusedFrom(s => s.nodes[0])
      }
    ];
  }
  const matmul: Node = {
    name: base,
    opType: 'MatMul',
    domain: '',
    inputs: [first.input, weight],
    outputs: [product],
    attributes: {},
    fusedFrom: fusedFrom(s => s.nodes[0])
  };
  if (!hasBias) {
    return [matmul];
  }
  const addName = siblings.find(s => s.nodes[1])!.nodes[1].name;
  const add: Node = {
    name: addName,
    opType: 'Add',
    domain: '',
    inputs: [product, bias],
    outputs: [names.fresh(`${base}/merged_sum`)],
    attributes: broadcastAttributes(graph),
    fusedFrom: fusedFrom(s => s.nodes[1])
  };
  return [matmul, add];
}

/** A Split of the merged product along its last axis into the siblings' outputs. */
function splitNode(
  graph: Graph,
  siblings: Projection[],
  merged: string,
  names: ValueNames,
  initializers: Map<string, Tensor>
): Node {
  const widths = siblings.map(s => s.weight.shape[1]);
  const base = `${siblings[0].nodes[0].name}/split`;
  const taken = new Set(graph.nodes.map(n => n.name));
  let name = base;
  for (let suffix = 2; taken.has(name); suffix++) {
    name = `${base}_${suffix}`;
  }
  const node: Node = {
    name,
    opType: 'Split',
    domain: '',
    inputs: [merged],
    outputs: siblings.map(s => s.output),
    attributes: { axis: -1 }
  };
  // Split sizes are an input from opset 13 on, an attribute before.
  if (opsetOf(graph) < 13) {
    return { ...node, attributes: { axis: -1, split: widths } };
  }
  const sizes = names.fresh(`${base}_sizes`);
  initializers.set(sizes, Tensor.fromNumbers('int64', [widths.length], widths));
  return { ...node, inputs: [merged, sizes] };
}
