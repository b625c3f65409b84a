/**
 * TF-TRT's segmentation: nodes an engine can compute are merged into engine segments, the
 * others into fallback segments that run on the CPU reference ops. Merging follows the
 * graph's edges (union-find) and never makes a segment that both feeds and is fed by another
 * one, so the segments run one after the other in a fixed order.
 */
import { Graph, Node } from '../ir/graph';
import { buildTimeNodes, SupportOptions, Unsupported, unsupportedNodes } from './support';

export interface SegmentOptions extends SupportOptions {
  /**
   * TF-TRT's minimum_segment_size: an engine segment of fewer nodes falls back instead.
   * Default 3, as in TF-TRT.
   */
  minimumSegmentSize?: number;
  /**
   * The most engine segments to keep (TF-TRT's TF_TRT_MAX_ALLOWED_ENGINES): the largest
   * stay engines, the rest fall back. Default: no limit.
   */
  maxAllowedEngines?: number;
}

export const DEFAULT_MINIMUM_SEGMENT_SIZE = 3;

export interface GraphSegment {
  /** 'engine 0', 'fallback 1', ... numbered in execution order. */
  id: string;
  kind: 'engine' | 'fallback';
  /** In the graph's (topological) order. */
  nodes: Node[];
  /** Values it reads that earlier segments or the caller give (initializers are not listed). */
  inputs: string[];
  /** Values it writes that later segments read, or that are graph outputs. */
  outputs: string[];
  /** Why a fallback segment falls back, its distinct reasons joined. */
  reason?: string;
}

export interface Segmentation {
  graph: Graph;
  /** In execution order: each reads only graph inputs, initializers and earlier segments. */
  segments: GraphSegment[];
  /** Why each node of a fallback segment falls back, by node name. */
  fallbackReasons: Map<string, string>;
  /**
   * Values known before any input is fed, from the input shapes and constants alone: an
   * engine that reads one from another segment takes it as a constant, which its kernels may
   * need on the host (a Reshape's target shape).
   */
  buildTimeValues: Set<string>;
  options: Required<Pick<SegmentOptions, 'minimumSegmentSize'>> & SegmentOptions;
}

/**
 * Splits `graph` into engine and fallback segments: nodes an engine can compute
 * (unsupportedNodes) are merged along the edges between them unless the merge would close a
 * cycle through another segment; so are the nodes that fall back. An engine segment under
 * `minimumSegmentSize` nodes, or beyond `maxAllowedEngines`, falls back; a graph that one
 * engine computes whole stays one engine whatever its size (computedByOneEngine).
 */
export function segmentGraph(graph: Graph, options: SegmentOptions = {}): Segmentation {
  const minimumSegmentSize = options.minimumSegmentSize ?? DEFAULT_MINIMUM_SEGMENT_SIZE;
  checkPositive('minimumSegmentSize', minimumSegmentSize);
  if (options.maxAllowedEngines !== undefined) {
    checkPositive('maxAllowedEngines', options.maxAllowedEngines, 0);
  }
  const unsupported = unsupportedNodes(graph, options);
  // A graph that one engine computes whole is one segment, however small or disconnected.
  const whole = isWhole(unsupported, options);
  const clusters = whole
    ? [graph.nodes]
    : clusterNodes(graph, node => (unsupported.has(node) ? 'fallback' : 'engine'));

  const fallbackReasons = new Map<string, string>();
  unsupported.forEach(({ reason }, node) => fallbackReasons.set(node.name, reason));
  const demote = (cluster: Node[], reason: string) =>
    cluster.forEach(node => fallbackReasons.set(node.name, reason));
  const engines = clusters.filter(cluster => !unsupported.has(cluster[0]));
  for (const cluster of engines) {
    if (cluster.length < minimumSegmentSize && !whole) {
      demote(
        cluster,
        `${cluster.length} node${cluster.length === 1 ? '' : 's'} < minimum_segment_size ${minimumSegmentSize}`
      );
    }
  }
  if (options.maxAllowedEngines !== undefined) {
    const kept = engines
      .filter(cluster => !fallbackReasons.has(cluster[0].name))
      .sort((a, b) => b.length - a.length)
      .slice(0, options.maxAllowedEngines);
    for (const cluster of engines) {
      if (!kept.includes(cluster) && !fallbackReasons.has(cluster[0].name)) {
        demote(cluster, `more engines than maxAllowedEngines ${options.maxAllowedEngines}`);
      }
    }
  }

  const readers = new Map<string, Set<Node>>();
  for (const node of graph.nodes) {
    node.inputs.forEach(
      name => name && (readers.get(name) ?? readers.set(name, new Set()).get(name)!).add(node)
    );
  }
  const graphOutputs = new Set(graph.outputs.map(output => output.name));
  const segments = clusters.map((nodes, index): GraphSegment => {
    const kind = fallbackReasons.has(nodes[0].name) ? 'fallback' : 'engine';
    const members = new Set(nodes);
    const produced = new Set(nodes.flatMap(node => node.outputs.filter(name => name)));
    const inputs = new Set<string>();
    for (const node of nodes) {
      for (const name of node.inputs) {
        if (name && !produced.has(name) && !graph.initializers.has(name)) {
          inputs.add(name);
        }
      }
    }
    const outputs = [...produced].filter(
      name =>
        graphOutputs.has(name) || [...(readers.get(name) ?? [])].some(node => !members.has(node))
    );
    const reasons = new Set(nodes.map(node => fallbackReasons.get(node.name)).filter(r => r));
    return {
      id: `${kind} ${index}`,
      kind,
      nodes,
      inputs: [...inputs],
      outputs,
      ...(kind === 'fallback' && { reason: [...reasons].join('; ') })
    };
  });

  const denied = new Set(options.denyOps ?? []);
  const buildTimeValues = new Set(graph.initializers.keys());
  buildTimeNodes(graph, denied).forEach(node =>
    node.outputs.forEach(name => name && buildTimeValues.add(name))
  );
  return {
    graph,
    segments,
    fallbackReasons,
    buildTimeValues,
    options: { ...options, minimumSegmentSize }
  };
}

/**
 * Whether one engine computes the whole graph: no node falls back for what it is. The
 * minimum segment size keeps the small pieces of a split graph from becoming engines of
 * their own; a whole model is never too small for one.
 */
export function computedByOneEngine(graph: Graph, options: SegmentOptions = {}): boolean {
  return isWhole(unsupportedNodes(graph, options), options);
}

/** Whether no node falls back for what it is and engines are allowed at all. */
function isWhole(unsupported: ReadonlyMap<Node, Unsupported>, options: SegmentOptions): boolean {
  return options.maxAllowedEngines !== 0 && unsupported.size === 0;
}

function checkPositive(name: string, value: number, least = 1): void {
  if (!Number.isInteger(value) || value < least) {
    throw new Error(`${name} must be an integer of at least ${least}, got ${String(value)}`);
  }
}

/**
 * Groups the nodes of each kind along the edges between them (union-find), refusing a merge
 * that would make the graph of groups cyclic, and returns the groups in an order that runs
 * every group after all those it reads from (the earliest node first among ready ones).
 */
export function clusterNodes<Kind>(graph: Graph, kindOf: (node: Node) => Kind): Node[][] {
  const nodes = graph.nodes;
  const producer = new Map<string, number>();
  nodes.forEach((node, i) => node.outputs.forEach(name => name && producer.set(name, i)));
  const producers = nodes.map(
    node =>
      new Set(
        node.inputs.flatMap(name => {
          const from = name ? producer.get(name) : undefined;
          return from === undefined ? [] : [from];
        })
      )
  );
  const consumers = nodes.map(() => new Set<number>());
  producers.forEach((from, to) => from.forEach(p => consumers[p].add(to)));

  const kinds = nodes.map(kindOf);
  const parent = nodes.map((_, i) => i);
  const members = nodes.map((_, i) => [i]);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  const first = (root: number) => members[root][0];
  const last = (root: number) => members[root][members[root].length - 1];
  const successors = (root: number): Set<number> => {
    const result = new Set<number>();
    for (const member of members[root]) {
      consumers[member].forEach(c => result.add(find(c)));
    }
    result.delete(root);
    return result;
  };
  /** Whether `to` can be reached from `from` other than by a direct edge. */
  const reachesIndirectly = (from: number, to: number): boolean => {
    // A group whose first node comes after `to`'s last cannot lead back into `to`.
    const horizon = last(to);
    const stack = [...successors(from)].filter(root => root !== to);
    const seen = new Set(stack);
    while (stack.length) {
      const root = stack.pop()!;
      if (root === to) {
        return true;
      }
      if (first(root) >= horizon) {
        continue;
      }
      for (const next of successors(root)) {
        if (!seen.has(next)) {
          seen.add(next);
          stack.push(next);
        }
      }
    }
    return false;
  };

  nodes.forEach((_, v) => {
    for (const u of producers[v]) {
      const [a, b] = [find(u), find(v)];
      if (a === b || kinds[u] !== kinds[v] || reachesIndirectly(a, b)) {
        continue;
      }
      const [into, from] = members[a].length >= members[b].length ? [a, b] : [b, a];
      parent[from] = into;
      members[into] = mergeSorted(members[into], members[from]);
      members[from] = [];
    }
  });

  const roots = [...new Set(nodes.map((_, i) => find(i)))];
  const waitingOn = new Map(roots.map(root => [root, 0]));
  roots.forEach(root => successors(root).forEach(s => waitingOn.set(s, waitingOn.get(s)! + 1)));
  const ordered: Node[][] = [];
  const ready = roots.filter(root => waitingOn.get(root) === 0);
  while (ready.length) {
    ready.sort((x, y) => first(y) - first(x));
    const root = ready.pop()!;
    ordered.push(members[root].map(i => nodes[i]));
    for (const next of successors(root)) {
      const left = waitingOn.get(next)! - 1;
      waitingOn.set(next, left);
      if (left === 0) {
        ready.push(next);
      }
    }
  }
  if (ordered.length !== roots.length) {
    throw new Error(`segmentation of '${graph.name}' made a cycle between segments`);
  }
  return ordered;
}

function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const merged: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    merged.push(j >= b.length || (i < a.length && a[i] < b[j]) ? a[i++] : b[j++]);
  }
  return merged;
}
