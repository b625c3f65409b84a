import { Graph, Node } from '../../ir/graph';
import { PassResult } from '../pass';
import { Match, PatternGraph, replaceMatches } from './recognize-patterns';

/**
 * Recognizes Softmax spelled out along one axis: e = Exp(x - ReduceMax(x)) (or Exp(x)),
 * y = e / ReduceSum(e), both reductions over that axis with kept dims. Before opset 13
 * Softmax normalizes the trailing axes from its axis, so only the last axis fits there.
 * The Softmax op (which subtracts the row max whether or not the spelling did) takes the
 * Div's place.
 */
export function recognizeSoftmax(graph: Graph): PassResult {
  return replaceMatches(graph, matchSoftmax);
}

function matchSoftmax(div: Node, patterns: PatternGraph): Match | undefined {
  if (div.opType !== 'Div' || div.domain !== '') {
    return undefined;
  }
  const [exponentials, total] = div.inputs;
  const exp = patterns.producer(exponentials, 'Exp');
  const sum = patterns.producer(total, 'ReduceSum');
  if (!exp || !sum || sum.inputs[0] !== exponentials) {
    return undefined;
  }
  const shifted = patterns.producer(exp.inputs[0], 'Sub');
  const max = shifted && patterns.producer(shifted.inputs[1], 'ReduceMax');
  const stabilized = max !== undefined && max.inputs[0] === shifted!.inputs[0];
  const x = stabilized ? shifted!.inputs[0] : exp.inputs[0];
  const axis = softmaxAxis(patterns, x, stabilized ? [sum, max] : [sum]);
  if (axis === undefined) {
    return undefined;
  }
  const nodes = stabilized ? [div, sum, exp, shifted!, max] : [div, sum, exp];
  return { nodes, op: { opType: 'Softmax', inputs: [x], attributes: { axis } } };
}

/** The one axis all `reductions` of x reduce over, when Softmax at this opset can take it. */
function softmaxAxis(patterns: PatternGraph, x: string, reductions: Node[]): number | undefined {
  const rank = patterns.rank(x);
  if (rank === undefined) {
    return undefined;
  }
  const axes = reductions.map(node => {
    const list = patterns.reducedAxes(node);
    return list?.length === 1 ? (list[0] < 0 ? list[0] + rank : list[0]) : undefined;
  });
  const [axis] = axes;
  const agreed = axis !== undefined && axes.every(a => a === axis);
  return agreed && (patterns.opset >= 13 || axis === rank - 1) ? axis : undefined;
}
