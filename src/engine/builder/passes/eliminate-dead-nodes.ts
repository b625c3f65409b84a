import { Graph } from '../../ir/graph';
import { PassResult, rewriteGraph } from '../pass';
import { graphOutputNames } from './values';

/**
 * Removes the nodes none of whose outputs reach a graph output, then the initializers no
 * remaining node reads (TensorRT's dead-layer elimination). Graph inputs stay: they are
 * the engine's interface even when unread.
 */
export function eliminateDeadNodes(graph: Graph): PassResult {
  const needed = graphOutputNames(graph);
  const live = new Set<number>();
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i];
    if (node.outputs.some(name => needed.has(name))) {
      live.add(i);
      node.inputs.forEach(name => needed.add(name));
    }
  }
  const changes: string[] = [];
  const nodes = graph.nodes.filter((node, i) => {
    if (!live.has(i)) {
      changes.push(`removed ${node.opType} '${node.name}': no graph output depends on it`);
    }
    return live.has(i);
  });
  const initializers = new Map([...graph.initializers].filter(([name]) => needed.has(name)));
  const unused = [...graph.initializers.keys()].filter(name => !needed.has(name));
  if (unused.length > 0) {
    const names = unused.map(name => `'${name}'`).join(', ');
    changes.push(`removed ${unused.length} unused initializer(s): ${names}`);
  }
  return { graph: rewriteGraph(graph, { nodes, initializers }), changes };
}
