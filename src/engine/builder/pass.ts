import { Graph } from '../ir/graph';
import { inferShapes } from '../ops/infer';

/**
 * What one graph pass did: the rewritten graph (a new object; the input graph is never
 * mutated) and one short line per rewrite, for the build log and the layer-info report.
 */
export interface PassResult {
  graph: Graph;
  changes: string[];
}

/**
 * A builder pass over the graph: constant folding, dead-layer elimination, fusions. Pure:
 * it reads `graph` and returns a new one. The function's name is the pass's name in
 * reports.
 */
export type Pass = (graph: Graph) => PassResult;

export interface PassReport {
  pass: string;
  changes: string[];
}

/**
 * Applies `passes` in order. Shape inference runs again after every pass, so the next one
 * sees the value types of the graph as it now is and the result carries the types of its
 * own values only.
 */
export function runPasses(
  graph: Graph,
  passes: readonly Pass[]
): { graph: Graph; report: PassReport[] } {
  const report: PassReport[] = [];
  let current = graph;
  for (const pass of passes) {
    const result = pass(current);
    report.push({ pass: pass.name, changes: result.changes });
    current = withInferredTypes(result.graph);
  }
  return { graph: current, report };
}

/** A copy of `graph` whose value types come from shape inference alone (none left stale). */
export function withInferredTypes(graph: Graph): Graph {
  const inferred: Graph = { ...graph, valueTypes: new Map() };
  inferShapes(inferred);
  return inferred;
}

/**
 * A new graph with some parts replaced and the rest copied, so that neither the pass's
 * edits nor later shape inference reach the graph it read.
 */
export function rewriteGraph(
  graph: Graph,
  parts: Partial<Pick<Graph, 'nodes' | 'initializers'>>
): Graph {
  return {
    ...graph,
    inputs: [...graph.inputs],
    outputs: [...graph.outputs],
    nodes: parts.nodes ?? [...graph.nodes],
    initializers: parts.initializers ?? new Map(graph.initializers),
    valueTypes: new Map(graph.valueTypes)
  };
}
