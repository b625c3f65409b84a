import { Graph, Node } from '../../ir/graph';
import { activationOfNode } from '../../ops/activation';
import { Attributes } from '../../ops/attributes';
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
 * Recognizes HardSwish, x * relu6(x + 3) / 6, in the spellings exporters write (Paddle's
 * and PyTorch's before opset 14): a product of x, Clip(x + 3, 0, 6) and 1/6 in any order
 * and association (Div by 6 or Mul by 1/6), or x * HardSigmoid(x) with alpha 1/6 and beta
 * 1/2. The HardSwish op takes the product's place.
 */
export function recognizeActivations(graph: Graph): PassResult {
  return replaceMatches(graph, matchHardSwish);
}

function matchHardSwish(root: Node, patterns: PatternGraph): Match | undefined {
  if ((root.opType !== 'Mul' && root.opType !== 'Div') || root.domain !== '') {
    return undefined;
  }
  const product = productOf(patterns, root.outputs[0]);
  if (product.factors.length !== 2) {
    return undefined;
  }
  for (const [x, gate] of [product.factors, [...product.factors].reverse()]) {
    const gateNodes = hardSwishGate(patterns, x, gate, product.scale);
    if (gateNodes) {
      return {
        nodes: [root, ...product.nodes.filter(n => n !== root), ...gateNodes],
        op: { opType: 'HardSwish', inputs: [x], attributes: {} }
      };
    }
  }
  return undefined;
}

/**
 * The nodes computing `gate` when x * gate * scale is HardSwish of x: Clip(x + 3, 0, 6)
 * with scale 1/6, or HardSigmoid(x, 1/6, 1/2) with scale 1.
 */
function hardSwishGate(
  patterns: PatternGraph,
  x: string,
  gate: string,
  scale: number
): Node[] | undefined {
  const hardSigmoid = patterns.producer(gate, 'HardSigmoid');
  if (hardSigmoid) {
    const a = new Attributes(hardSigmoid);
    const fits =
      hardSigmoid.inputs[0] === x &&
      nearly(a.float('alpha', 0.2), 1 / 6) &&
      nearly(a.float('beta', 0.5), 0.5) &&
      nearly(scale, 1);
    return fits ? [hardSigmoid] : undefined;
  }
  const clip = patterns.producer(gate, 'Clip');
  const add = clip && patterns.producer(clip.inputs[0], 'Add');
  if (!clip || !add || !nearly(scale, 1 / 6)) {
    return undefined;
  }
  const bounds = activationOfNode(clip, patterns.opset, patterns.graph.initializers)?.params;
  const shifted = operandsWith(add, x);
  const fits =
    bounds !== undefined &&
    bounds[0] === 0 &&
    bounds[1] === 6 &&
    shifted !== undefined &&
    patterns.isScalar(shifted[1], 3);
  return fits ? [clip, add] : undefined;
}
