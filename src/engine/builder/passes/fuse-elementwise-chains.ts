import { Graph, Node, opsetOf } from '../../ir/graph';
import { activationOfNode } from '../../ops/activation';
import { formatStep, isFusableElementwise, Operand, Step } from '../../ops/fused-elementwise';
import { PassResult, rewriteGraph } from '../pass';
import { graphOutputNames, producersOf, readersOf } from './values';

/**
 * The most values a fused kernel reads: with its output, WebGPU's default limit of 8
 * storage buffers per shader stage.
 */
const MAX_INPUTS = 7;

/**
 * Fuses chains and small DAGs of elementwise ops (unary math and activations, Add / Sub /
 * Mul / Div / Pow / PRelu / Min / Max with broadcasting, Clip with constant bounds) into one
 * webtrt::Elementwise node each, TensorRT's pointwise fusion: one kernel reading each
 * input once instead of one kernel and one intermediate tensor per op.
 *
 * A group grows from its last node (its one output) up through the producers of its
 * operands, taking a producer when every reader of its value is already in the group and
 * the value is no graph output, so no intermediate is needed outside. Values are float32
 * or float16 throughout. Scalar constants become literals of the program when they do not
 * add dims to the step reading them. Groups of one node stay as they are; runs after the
 * fusions into Conv and MatMul epilogues, so it takes what those left.
 */
export function fuseElementwiseChains(graph: Graph): PassResult {
  const context = new FusionContext(graph);
  const fusedInto = new Map<Node, Node>();
  const grouped = new Set<Node>();
  const changes: string[] = [];
  for (const sink of [...graph.nodes].reverse()) {
    if (grouped.has(sink) || !context.fusable(sink)) {
      continue;
    }
    const members = context.grow(sink, grouped);
    if (members.length < 2) {
      continue;
    }
    for (const member of members) {
      grouped.add(member);
    }
    const fused = context.fuse(members);
    fusedInto.set(sink, fused);
    changes.push(
      `fused ${members.length} elementwise nodes (${members.map(n => n.opType).join(', ')}) into Elementwise '${fused.name}'`
    );
  }
  const nodes = graph.nodes.flatMap(node => {
    const fused = fusedInto.get(node);
    return fused ? [fused] : grouped.has(node) ? [] : [node];
  });
  return { graph: rewriteGraph(graph, { nodes }), changes: changes.reverse() };
}

class FusionContext {
  private readonly producers: Map<string, Node>;
  private readonly readers: Map<string, Node[]>;
  private readonly outputs: Set<string>;
  private readonly opset: number;

  constructor(private readonly graph: Graph) {
    this.producers = producersOf(graph);
    this.readers = readersOf(graph);
    this.outputs = graphOutputNames(graph);
    this.opset = opsetOf(graph);
  }

  /** Whether `node` can be a step: a fusable op over values of one float type. */
  fusable(node: Node): boolean {
    if (node.domain !== '' || !isFusableElementwise(node.opType) || node.outputs.length !== 1) {
      return false;
    }
    const dtype = this.graph.valueTypes.get(node.outputs[0])?.dtype;
    const values = [...this.operandValues(node), node.outputs[0]];
    return (
      (dtype === 'float32' || dtype === 'float16') &&
      values.every(name => this.graph.valueTypes.get(name)?.dtype === dtype) &&
      Object.values(node.attributes).every(
        value =>
          typeof value === 'number' || (typeof value === 'string' && /^[\w.+-]+$/.test(value))
      ) &&
      (node.opType !== 'Clip' || this.clipBounds(node) !== undefined)
    );
  }

  /**
   * The group ending at `sink`, in graph order: producers join while all readers of their
   * value are members and the group reads at most MAX_INPUTS values.
   */
  grow(sink: Node, taken: Set<Node>): Node[] {
    const members = new Set([sink]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const member of [...members]) {
        for (const value of this.operandValues(member)) {
          const producer = this.producers.get(value);
          if (
            producer &&
            !members.has(producer) &&
            !taken.has(producer) &&
            !this.outputs.has(value) &&
            this.fusable(producer) &&
            (this.readers.get(value) ?? []).every(reader => members.has(reader)) &&
            this.externalValues([...members, producer]).length <= MAX_INPUTS
          ) {
            members.add(producer);
            grew = true;
          }
        }
      }
    }
    return this.graph.nodes.filter(node => members.has(node));
  }

  /** The Elementwise node computing `members` (in graph order; the last is the sink). */
  fuse(members: Node[]): Node {
    const inputs = this.externalValues(members);
    const stepOf = new Map(members.map((node, index) => [node.outputs[0], index]));
    const operand = (name: string, literal: number | undefined): Operand => {
      const step = stepOf.get(name);
      if (step !== undefined) {
        return { step };
      }
      return literal !== undefined ? { literal } : { input: inputs.indexOf(name) };
    };
    const steps = members.map((node): Step => {
      if (node.opType === 'Clip') {
        const [lo, hi] = this.clipBounds(node)!;
        const bound = (value: number): Operand =>
          Number.isFinite(value) ? { literal: value } : 'omitted';
        return {
          opType: 'Clip',
          operands: [operand(node.inputs[0], undefined), bound(lo), bound(hi)],
          attributes: {}
        };
      }
      return {
        opType: node.opType,
        operands: node.inputs.map(name =>
          name ? operand(name, this.literal(node, name)) : 'omitted'
        ),
        attributes: node.attributes as Record<string, number | string>
      };
    });
    const sink = members[members.length - 1];
    return {
      name: sink.name,
      opType: 'Elementwise',
      domain: 'webtrt',
      inputs,
      outputs: [...sink.outputs],
      attributes: { program: steps.map(formatStep) },
      fusedFrom: members.flatMap(node => node.fusedFrom ?? [node.name])
    };
  }

  /** The values `members` read from outside, in order of first reading, literals aside. */
  private externalValues(members: Node[]): string[] {
    const produced = new Set(members.map(node => node.outputs[0]));
    const values = members.flatMap(node =>
      this.operandValues(node).filter(
        name => !produced.has(name) && this.literal(node, name) === undefined
      )
    );
    return [...new Set(values)];
  }

  /** The non-omitted inputs a step reads (Clip's constant bounds are none of them). */
  private operandValues(node: Node): string[] {
    const names = node.opType === 'Clip' ? node.inputs.slice(0, 1) : node.inputs;
    return names.filter(name => name);
  }

  /**
   * The value of `name` as a literal of `node`'s step: a one-element constant of no more
   * dims than another operand of the node, so that leaving it out of the broadcast keeps
   * the step's shape.
   */
  private literal(node: Node, name: string): number | undefined {
    const constant = this.graph.initializers.get(name);
    if (!constant || constant.size !== 1) {
      return undefined;
    }
    const others = node.inputs.filter(input => input && input !== name);
    const rank = Math.max(
      ...others.map(input => this.graph.valueTypes.get(input)?.shape?.length ?? -1)
    );
    return constant.rank <= rank ? constant.toNumbers()[0] : undefined;
  }

  private clipBounds(node: Node): number[] | undefined {
    return activationOfNode(node, this.opset, this.graph.initializers)?.params;
  }
}
