import { AttributeValue, Dim, Graph, Node, opsetOf } from '../../ir/graph';

/** The nodes that read each value, once per reading node. */
export function readersOf(graph: Graph): Map<string, Node[]> {
  const readers = new Map<string, Node[]>();
  for (const node of graph.nodes) {
    for (const name of new Set(node.inputs)) {
      if (!name) {
        continue;
      }
      const list = readers.get(name);
      if (list) {
        list.push(node);
      } else {
        readers.set(name, [node]);
      }
    }
  }
  return readers;
}

/** The node that produces each value (graph inputs and initializers have none). */
export function producersOf(graph: Graph): Map<string, Node> {
  const producers = new Map<string, Node>();
  for (const node of graph.nodes) {
    for (const name of node.outputs) {
      if (name) {
        producers.set(name, node);
      }
    }
  }
  return producers;
}

export function graphOutputNames(graph: Graph): Set<string> {
  return new Set(graph.outputs.map(output => output.name));
}

/**
 * Whether a value is needed by anything but `reader`: another node or the caller (a graph
 * output). A fusion may rewrite a value only `reader` sees.
 */
export function onlyReadBy(
  name: string,
  reader: Node,
  readers: Map<string, Node[]>,
  outputs: Set<string>
): boolean {
  const nodes = readers.get(name) ?? [];
  return !outputs.has(name) && nodes.length === 1 && nodes[0] === reader;
}

/** Whether a value is read at all, by a node or as a graph output. */
export function isRead(name: string, readers: Map<string, Node[]>, outputs: Set<string>): boolean {
  return outputs.has(name) || (readers.get(name)?.length ?? 0) > 0;
}

/** Hands out value names not yet used in a graph, for tensors a pass creates. */
export class ValueNames {
  private readonly taken = new Set<string>();

  constructor(graph: Graph) {
    for (const name of [
      ...graph.inputs.map(input => input.name),
      ...graph.initializers.keys(),
      ...graph.nodes.flatMap(node => [...node.inputs, ...node.outputs])
    ]) {
      this.taken.add(name);
    }
  }

  /** `base`, or `base_2`, `base_3`, ... when taken. */
  fresh(base: string): string {
    let name = base;
    for (let suffix = 2; this.taken.has(name); suffix++) {
      name = `${base}_${suffix}`;
    }
    this.taken.add(name);
    return name;
  }
}

/** Whether two shapes are known to be equal: same rank, each dim the same size or symbol. */
export function sameKnownShape(a: readonly Dim[] | undefined, b: readonly Dim[] | undefined) {
  return (
    a !== undefined &&
    b !== undefined &&
    a.length === b.length &&
    a.every((d, i) => d !== null && d === b[i])
  );
}

/** Attributes a created Add or Gemm needs to broadcast: before opset 7 it had to be told. */
export function broadcastAttributes(graph: Graph): Record<string, AttributeValue> {
  return opsetOf(graph) < 7 ? { broadcast: 1 } : {};
}
