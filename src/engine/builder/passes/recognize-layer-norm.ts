import { Dim, Graph, Node } from '../../ir/graph';
import { PassResult } from '../pass';
import { Match, operandOrders, PatternGraph, replaceMatches } from './recognize-patterns';

/**
 * Recognizes LayerNormalization spelled out as exporters write it before opset 17:
 *   mean = ReduceMean(x), d = x - mean, variance = ReduceMean(d² or d * d),
 *   y = d / Sqrt(variance + epsilon) * gamma + beta
 * with both means over the same trailing axes (kept), gamma and beta constant or not but
 * broadcasting into the normalized dims (beta optional). The means' axes may be an
 * attribute (opset 13) or an input (opset 18). LayerNormalization (statistics in float32)
 * takes the place of the last Add or Mul.
 */
export function recognizeLayerNorm(graph: Graph): PassResult {
  return replaceMatches(graph, matchLayerNorm);
}

function matchLayerNorm(root: Node, patterns: PatternGraph): Match | undefined {
  if (root.domain !== '') {
    return undefined;
  }
  if (root.opType === 'Add') {
    for (const [scaled, beta] of operandOrders(root)) {
      const match = scaledNormalization(patterns, patterns.producer(scaled, 'Mul'), beta);
      if (match) {
        return { nodes: [root, ...match.nodes], op: match.op };
      }
    }
    return undefined;
  }
  return root.opType === 'Mul' ? scaledNormalization(patterns, root) : undefined;
}

/** `mul` as gamma times a standardization, and `beta` added to that when given. */
function scaledNormalization(
  patterns: PatternGraph,
  mul: Node | undefined,
  beta?: string
): Match | undefined {
  if (!mul) {
    return undefined;
  }
  for (const [standardized, gamma] of operandOrders(mul)) {
    const found = standardization(patterns, patterns.producer(standardized, 'Div'));
    if (!found) {
      continue;
    }
    const { x, axis, epsilon, nodes } = found;
    const parameters = beta === undefined ? [gamma] : [gamma, beta];
    if (parameters.every(p => broadcastsIntoNormalized(patterns, p, x, axis))) {
      return {
        nodes: [mul, ...nodes],
        op: {
          opType: 'LayerNormalization',
          inputs: [x, ...parameters],
          attributes: { axis, epsilon }
        }
      };
    }
  }
  return undefined;
}

/** (x - mean) / Sqrt(variance + epsilon), from its Div. */
function standardization(patterns: PatternGraph, div: Node | undefined) {
  const [centered, deviation] = div?.inputs ?? [];
  const sub = div && patterns.producer(centered, 'Sub');
  const sqrt = div && patterns.producer(deviation, 'Sqrt');
  const shifted = sqrt && patterns.producer(sqrt.inputs[0], 'Add');
  if (!div || !sub || !shifted) {
    return undefined;
  }
  const [x, meanValue] = sub.inputs;
  const mean = patterns.producer(meanValue, 'ReduceMean');
  for (const [varianceValue, epsilonValue] of operandOrders(shifted)) {
    const variance = patterns.producer(varianceValue, 'ReduceMean');
    const square = variance && squareOf(patterns, variance.inputs[0], centered);
    const epsilon = patterns.scalar(epsilonValue);
    if (!mean || mean.inputs[0] !== x || !variance || !square || epsilon === undefined) {
      continue;
    }
    const axis = trailingAxis(patterns, x, mean, variance);
    if (axis !== undefined) {
      return { x, axis, epsilon, nodes: [div, sqrt, shifted, variance, square, sub, mean] };
    }
  }
  return undefined;
}

/** The node computing `value` as `base` squared: Pow(base, 2) or Mul(base, base). */
function squareOf(patterns: PatternGraph, value: string, base: string): Node | undefined {
  const pow = patterns.producer(value, 'Pow');
  if (pow) {
    return pow.inputs[0] === base && patterns.isScalar(pow.inputs[1], 2) ? pow : undefined;
  }
  const mul = patterns.producer(value, 'Mul');
  return mul && mul.inputs[0] === base && mul.inputs[1] === base ? mul : undefined;
}

/**
 * The first normalized axis when both means reduce over the same trailing axes of x,
 * e.g. [-1] or [2, 3] of a rank-4 x.
 */
function trailingAxis(
  patterns: PatternGraph,
  x: string,
  mean: Node,
  variance: Node
): number | undefined {
  const rank = patterns.rank(x);
  const axes = patterns.reducedAxes(mean);
  const varianceAxes = patterns.reducedAxes(variance);
  if (rank === undefined || !axes || !varianceAxes) {
    return undefined;
  }
  const normalize = (list: number[]) =>
    [...new Set(list.map(a => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  const sorted = normalize(axes);
  const first = rank - sorted.length;
  const trailing = sorted.every((a, i) => a === first + i);
  const same = normalize(varianceAxes).join() === sorted.join();
  return trailing && same && first >= 0 ? first : undefined;
}

/**
 * Whether a scale or bias of the spelled-out form is one LayerNormalization accepts: its
 * dims, aligned right, are 1 or the normalized dims of x (so it does not broadcast x).
 */
function broadcastsIntoNormalized(
  patterns: PatternGraph,
  parameter: string,
  x: string,
  axis: number
): boolean {
  const shape = patterns.graph.valueTypes.get(parameter)?.shape;
  const normalized: Dim[] | undefined = patterns.graph.valueTypes.get(x)?.shape?.slice(axis);
  if (!shape || !normalized || shape.length > normalized.length) {
    return false;
  }
  const shift = normalized.length - shape.length;
  return shape.every((d, i) => d === 1 || (d !== null && d === normalized[i + shift]));
}
