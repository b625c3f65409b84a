import { Graph, Node, opsetOf } from '../ir/graph';
import { findOp } from '../ops/registry';
import { OpContext, OpDefinition, OpError, UnsupportedOpError } from '../ops/types';

/** A node bound to its op definition and parsed attributes, ready to run. */
export interface PreparedNode {
  node: Node;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  op: OpDefinition<any>;
  attrs: unknown;
  ctx: OpContext;
  hostInputs: readonly number[];
}

// Defined beside OpError so that op definitions can decline variants they do not implement.
export { UnsupportedOpError };

/**
 * Binds every node to its op and parses its attributes, so that a model with an op the
 * engine does not know fails before anything runs, naming the node.
 */
export function prepareNodes(graph: Graph): PreparedNode[] {
  return graph.nodes.map(node => prepareNode(graph, node));
}

/** Binds one node of `graph` to its op and parses its attributes (see prepareNodes). */
export function prepareNode(graph: Graph, node: Node): PreparedNode {
  const op = findOp(node.opType, node.domain);
  if (!op) {
    const domain = node.domain ? ` in domain '${node.domain}'` : '';
    throw new UnsupportedOpError(node, `op ${node.opType}${domain} is not supported`);
  }
  const ctx: OpContext = { opset: opsetOf(graph, node.domain), node };
  if (op.sinceVersion !== undefined && ctx.opset < op.sinceVersion) {
    throw new UnsupportedOpError(
      node,
      `opset ${ctx.opset} is older than opset ${op.sinceVersion}, the oldest this op supports`
    );
  }
  const attrs = op.parseAttributes(ctx);
  return { node, op, attrs, ctx, hostInputs: op.hostInputs?.(attrs) ?? [] };
}

/** For each value name, the index of the last node that reads it (graph outputs: Infinity). */
export function lastUses(graph: Graph): Map<string, number> {
  const last = new Map<string, number>();
  graph.nodes.forEach((node, index) => {
    for (const name of node.inputs) {
      if (name) {
        last.set(name, index);
      }
    }
  });
  for (const output of graph.outputs) {
    last.set(output.name, Infinity);
  }
  return last;
}

export function checkOutputCount(prepared: PreparedNode, count: number): void {
  const expected = prepared.node.outputs.length;
  if (count < expected) {
    throw new OpError(prepared.node, `produced ${count} outputs, the node names ${expected}`);
  }
}
