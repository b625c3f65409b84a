/**
 * What the recognition passes share: a small matcher over the graph for ops that exporters
 * spell out in primitive ops (HardSwish as x * Clip(x + 3, 0, 6) / 6, LayerNormalization as
 * ReduceMean, Sub, Pow, ...), and the rewrite that replaces each match by the one ONNX op
 * it computes.
 */
import { isFloat } from '../../ir/dtype';
import { Graph, Node, opsetOf } from '../../ir/graph';
import { Attributes } from '../../ops/attributes';
import { PassResult, rewriteGraph } from '../pass';
import { graphOutputNames, producersOf, readersOf, sameKnownShape } from './values';

/** The graph as a recognizer reads it. */
export class PatternGraph {
  readonly producers: Map<string, Node>;
  readonly readers: Map<string, Node[]>;
  readonly outputs: Set<string>;
  /** The ai.onnx opset, for ops whose inputs moved between opsets. */
  readonly opset: number;

  constructor(readonly graph: Graph) {
    this.producers = producersOf(graph);
    this.readers = readersOf(graph);
    this.outputs = graphOutputNames(graph);
    this.opset = opsetOf(graph);
  }

  /** The ai.onnx node of type `opType` producing `value`, if that is what produces it. */
  producer(value: string, opType: string): Node | undefined {
    const node = this.producers.get(value);
    return node && node.opType === opType && node.domain === '' ? node : undefined;
  }

  /** The value of a one-element constant (an initializer), or undefined. */
  scalar(value: string): number | undefined {
    const tensor = this.graph.initializers.get(value);
    return tensor && tensor.size === 1 ? tensor.toNumbers()[0] : undefined;
  }

  /** Whether `value` is a constant scalar close to `expected`. */
  isScalar(value: string, expected: number): boolean {
    const actual = this.scalar(value);
    return actual !== undefined && nearly(actual, expected);
  }

  /**
   * The axes a Reduce* node reduces over, whether they are its attribute (before opset 13
   * or 18, by op) or its constant second input; undefined when it reduces over every axis
   * or reads them at run time.
   */
  reducedAxes(node: Node): number[] | undefined {
    const a = new Attributes(node);
    if (a.int('keepdims', 1) !== 1) {
      return undefined;
    }
    const axes = a.ints('axes') ?? this.graph.initializers.get(node.inputs[1] ?? '')?.toIntegers();
    return axes && axes.length > 0 ? axes : undefined;
  }

  /** The rank of a value when known. */
  rank(value: string): number | undefined {
    return this.graph.valueTypes.get(value)?.shape?.length;
  }
}

/** Equality of exported constants up to float32 rounding (1/6, √2, ...). */
export function nearly(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= 1e-6 * Math.abs(expected);
}

/** The inputs of a binary node with `first` in front, or undefined when it reads no `first`. */
export function operandsWith(node: Node, first: string): [string, string] | undefined {
  const [a, b] = node.inputs;
  if (a === first) {
    return [a, b];
  }
  return b === first && commutes(node) ? [b, a] : undefined;
}

/** Both orders of a commutative binary node's operands, one order of any other. */
export function operandOrders(node: Node): [string, string][] {
  const [a, b] = node.inputs;
  return commutes(node)
    ? [
        [a, b],
        [b, a]
      ]
    : [[a, b]];
}

function commutes(node: Node): boolean {
  return node.opType === 'Add' || node.opType === 'Mul';
}

/** A product x1 * x2 * ... * scale spelled as a tree of Mul and Div by constants. */
export interface Product {
  /** The non-constant factors, in the order the tree reads them. */
  factors: string[];
  /** The product of the constant scalars (divisors inverted). */
  scale: number;
  /** The Mul and Div nodes of the tree. */
  nodes: Node[];
}

/**
 * `value` as a product: Mul nodes are opened and a Div by a constant scalar divides the
 * scale, inner ones only when read once (by the tree); anything else (a product read
 * elsewhere too, a Div by a tensor) is a factor.
 */
export function productOf(patterns: PatternGraph, value: string): Product {
  const product: Product = { factors: [], scale: 1, nodes: [] };
  const open = (name: string, root: boolean) => {
    const node = patterns.producers.get(name);
    const inner = root || (node !== undefined && readOnce(patterns, name));
    if (node?.domain === '' && node.inputs.length === 2 && inner) {
      const [a, b] = node.inputs;
      if (node.opType === 'Mul') {
        product.nodes.push(node);
        factor(a);
        factor(b);
        return;
      }
      const divisor = patterns.scalar(b);
      if (node.opType === 'Div' && divisor !== undefined) {
        product.nodes.push(node);
        factor(a);
        product.scale /= divisor;
        return;
      }
    }
    product.factors.push(name);
  };
  const factor = (name: string) => {
    const constant = patterns.scalar(name);
    if (constant === undefined) {
      open(name, false);
    } else {
      product.scale *= constant;
    }
  };
  open(value, true);
  return product;
}

function readOnce(patterns: PatternGraph, value: string): boolean {
  return !patterns.outputs.has(value) && (patterns.readers.get(value)?.length ?? 0) === 1;
}

/** What a recognizer found: nodes that together compute one ONNX op. */
export interface Match {
  /** The nodes replaced; the one whose output the new node computes (the root) first. */
  nodes: Node[];
  /** The op computing the root's output, without name or outputs (those are the root's). */
  op: Pick<Node, 'opType' | 'inputs' | 'attributes'>;
}

/**
 * Replaces what `find` recognizes, trying each node as the root of a match from the last
 * node up (so the largest spelling of an op is seen before its parts). A match is taken
 * when the values inside it are read by it alone, its root has one output and the new op
 * keeps its first input's type and shape, as every op recognized here does. The new node
 * takes the root's place, name and output, and lists the imported nodes it replaces.
 */
export function replaceMatches(
  graph: Graph,
  find: (root: Node, patterns: PatternGraph) => Match | undefined
): PassResult {
  const patterns = new PatternGraph(graph);
  const replaced = new Set<Node>();
  const replacements = new Map<Node, Node>();
  const changes: string[] = [];
  for (const root of [...graph.nodes].reverse()) {
    if (replaced.has(root) || root.outputs.length !== 1) {
      continue;
    }
    const match = find(root, patterns);
    if (!match || !isSelfContained(patterns, match) || match.nodes.some(n => replaced.has(n))) {
      continue;
    }
    if (!keepsType(graph, match.op.inputs[0], root.outputs[0])) {
      continue;
    }
    const members = new Set(match.nodes);
    const ordered = graph.nodes.filter(node => members.has(node));
    for (const node of ordered) {
      replaced.add(node);
    }
    replacements.set(root, {
      name: root.name,
      domain: '',
      ...match.op,
      outputs: [...root.outputs],
      fusedFrom: ordered.flatMap(node => node.fusedFrom ?? [node.name])
    });
    changes.push(
      `recognized ${match.op.opType} '${root.name}' in ${ordered.length} nodes (${ordered.map(n => n.opType).join(', ')})`
    );
  }
  const nodes = graph.nodes.flatMap(node => {
    if (!replaced.has(node)) {
      return [node];
    }
    const replacement = replacements.get(node);
    return replacement ? [replacement] : [];
  });
  return { graph: rewriteGraph(graph, { nodes }), changes: changes.reverse() };
}

/** Whether every value the match computes, but its root's output, is read inside it alone. */
function isSelfContained(patterns: PatternGraph, match: Match): boolean {
  const members = new Set(match.nodes);
  if (members.size !== match.nodes.length) {
    return false;
  }
  return match.nodes
    .slice(1)
    .every(node =>
      node.outputs.every(
        value =>
          !patterns.outputs.has(value) &&
          (patterns.readers.get(value) ?? []).every(reader => members.has(reader))
      )
    );
}

function keepsType(graph: Graph, input: string, output: string): boolean {
  const x = graph.valueTypes.get(input);
  const y = graph.valueTypes.get(output);
  return x !== undefined && y !== undefined && isFloat(x.dtype) && x.dtype === y.dtype
    ? sameKnownShape(x.shape, y.shape)
    : false;
}
