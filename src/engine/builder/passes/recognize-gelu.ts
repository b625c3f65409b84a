import { Graph, Node } from '../../ir/graph';
import { PassResult } from '../pass';
import {
  Match,
  nearly,
  operandsWith,
  PatternGraph,
  productOf,
  replaceMatches
} from './recognize-patterns';

/**
 * Recognizes the exact (erf) Gelu, x * 0.5 * (1 + erf(x / √2)), as exporters spell it before
 * opset 20: a product of x, 1 + Erf(x / √2) (or Erf(x * 1/√2)) and 0.5 in any order and
 * association. The Gelu op takes the product's place.
 */
export function recognizeGelu(graph: Graph): PassResult {
  return replaceMatches(graph, matchGelu);
}

function matchGelu(root: Node, patterns: PatternGraph): Match | undefined {
  if (root.opType !== 'Mul' || root.domain !== '') {
    return undefined;
  }
  const product = productOf(patterns, root.outputs[0]);
  if (product.factors.length !== 2 || !nearly(product.scale, 0.5)) {
    return undefined;
  }
  for (const [x, onePlusErf] of [product.factors, [...product.factors].reverse()]) {
    const erfNodes = onePlusErfOf(patterns, x, onePlusErf);
    if (erfNodes) {
      return {
        nodes: [root, ...product.nodes.filter(n => n !== root), ...erfNodes],
        op: { opType: 'Gelu', inputs: [x], attributes: {} }
      };
    }
  }
  return undefined;
}

/** The nodes computing `value` when it is 1 + erf(x / √2). */
function onePlusErfOf(patterns: PatternGraph, x: string, value: string): Node[] | undefined {
  const add = patterns.producer(value, 'Add');
  const erf = add && add.inputs.map(name => patterns.producer(name, 'Erf')).find(n => n);
  const one = erf && operandsWith(add, erf.outputs[0])?.[1];
  if (!erf || one === undefined || !patterns.isScalar(one, 1)) {
    return undefined;
  }
  const scaled = productOf(patterns, erf.inputs[0]);
  const fits =
    scaled.nodes.length > 0 &&
    scaled.factors.length === 1 &&
    scaled.factors[0] === x &&
    nearly(scaled.scale, Math.SQRT1_2);
  return fits ? [add, erf, ...scaled.nodes] : undefined;
}
