import { dataTypeFromOnnx } from '../../ir/dtype';
import { Graph, Node } from '../../ir/graph';
import { Attributes } from '../../ops/attributes';
import { PassResult, rewriteGraph } from '../pass';
import { graphOutputNames, isRead, producersOf, readersOf, sameKnownShape } from './values';

/** Ops that only relabel the shape of their first input, leaving the elements in order. */
const RESHAPING_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

/**
 * Bypasses nodes whose output equals their first input: Identity; Dropout at inference
 * with its mask unread; Cast to the type the value already has; Reshape, Flatten, Squeeze
 * and Unsqueeze that leave the shape as it was (equal sizes or equal symbols in every dim).
 *
 * Readers of the output read the input instead. When the output is a graph output, its
 * name must survive: the node producing the input is renamed to produce it directly, or,
 * when the input is a graph input, an initializer or another graph output, the node stays.
 */
export function eliminateIdentities(graph: Graph): PassResult {
  const readers = readersOf(graph);
  const producers = producersOf(graph);
  const outputs = graphOutputNames(graph);
  /** Each bypassed value and the value that now stands for it. */
  const replacements = new Map<string, string>();
  const resolve = (name: string): string => {
    let resolved = name;
    while (replacements.has(resolved)) {
      resolved = replacements.get(resolved)!;
    }
    return resolved;
  };
  const bypassed = new Set<Node>();
  const changes: string[] = [];
  for (const node of graph.nodes) {
    if (!isIdentity(graph, node, readers, outputs)) {
      continue;
    }
    const input = resolve(node.inputs[0]);
    const output = node.outputs[0];
    if (!outputs.has(output)) {
      replacements.set(output, input);
      changes.push(
        `bypassed ${node.opType} '${node.name}': readers of '${output}' read '${input}'`
      );
    } else if (producers.has(input) && !outputs.has(input)) {
      replacements.set(input, output);
      const producer = producers.get(input)!;
      changes.push(
        `bypassed ${node.opType} '${node.name}': ${producer.opType} '${producer.name}' ` +
          `produces graph output '${output}'`
      );
    } else {
      continue;
    }
    bypassed.add(node);
  }
  const rename = (names: string[]) => names.map(name => (name ? resolve(name) : name));
  const nodes = graph.nodes
    .filter(node => !bypassed.has(node))
    .map(node => ({ ...node, inputs: rename(node.inputs), outputs: rename(node.outputs) }));
  return { graph: rewriteGraph(graph, { nodes }), changes };
}

function isIdentity(
  graph: Graph,
  node: Node,
  readers: Map<string, Node[]>,
  outputs: Set<string>
): boolean {
  if (node.domain !== '' || !node.inputs[0] || !node.outputs[0]) {
    return false;
  }
  const input = graph.valueTypes.get(node.inputs[0]);
  const output = graph.valueTypes.get(node.outputs[0]);
  switch (node.opType) {
    case 'Identity':
      return true;
    case 'Dropout': {
      const mask = node.outputs[1];
      return !(mask && isRead(mask, readers, outputs)) && isInferenceDropout(graph, node);
    }
    case 'Cast': {
      const to = new Attributes(node).int('to');
      return input !== undefined && to !== undefined && dataTypeFromOnnx(to) === input.dtype;
    }
    default:
      return RESHAPING_OPS.has(node.opType) && sameKnownShape(input?.shape, output?.shape);
  }
}

/**
 * Whether a Dropout passes its input through, as the reference runs it: unless its
 * training_mode is true (opset 12 on) with a ratio other than 0. Both must then be
 * constants to tell.
 */
function isInferenceDropout(graph: Graph, node: Node): boolean {
  const [, ratioName, trainingName] = node.inputs;
  if (!trainingName) {
    return true;
  }
  const training = graph.initializers.get(trainingName);
  if (!training) {
    return false;
  }
  if (!training.toNumbers()[0]) {
    return true;
  }
  const ratio = ratioName ? graph.initializers.get(ratioName) : undefined;
  return ratio !== undefined && ratio.toNumbers()[0] === 0;
}
