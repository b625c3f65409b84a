import { Dim, Graph } from '../ir/graph';
import { findOp } from '../ops/registry';
import { qualifiedOpType } from '../builder/support';
import { SegmentOptions } from '../builder/segment';
import { partitionGraph } from './partitions';
import type { ModelReport, ValueSummary } from './types';

/** Where an imported model came from: the file as the user named it, its size, the import time. */
export interface ModelSource {
  path: string;
  bytes: number;
  importMs: number;
}

/**
 * An imported ONNX model before any build (what `webtrt inspect` prints): its inputs and
 * outputs, opsets, op histogram with where webtrt runs each op, parameters, and how it would
 * be split into engine and fallback segments.
 */
export function modelReport(
  graph: Graph,
  source: ModelSource,
  options: SegmentOptions = {}
): ModelReport {
  let elements = 0;
  let bytes = 0;
  for (const tensor of graph.initializers.values()) {
    elements += tensor.size;
    bytes += tensor.data.byteLength;
  }
  return {
    kind: 'model',
    path: source.path,
    bytes: source.bytes,
    importMs: source.importMs,
    producer: graph.producerName ?? '',
    graphName: graph.name,
    opsets: { ...graph.opsets },
    nodes: graph.nodes.length,
    parameters: { elements, bytes, tensors: graph.initializers.size },
    inputs: graph.inputs.map(valueSummary),
    outputs: graph.outputs.map(valueSummary),
    ops: opHistogram(graph),
    partitions: partitionGraph(graph, undefined, options)
  };
}

/** A value's name, dtype and dims, unknown dims as '?'. */
export function valueSummary(value: {
  name: string;
  dtype: ValueSummary['dtype'];
  shape?: readonly Dim[];
}): ValueSummary {
  const { name, dtype, shape } = value;
  return { name, dtype, ...(shape && { shape: shape.map(dim => dim ?? '?') }) };
}

/** Op types by how often they occur, most frequent first, then by name. */
function opHistogram(graph: Graph): ModelReport['ops'] {
  const counts = new Map<string, ModelReport['ops'][number]>();
  for (const node of graph.nodes) {
    const op = qualifiedOpType(node);
    let entry = counts.get(op);
    if (!entry) {
      const definition = findOp(node.opType, node.domain);
      const support = !definition ? 'unsupported' : definition.webgpu ? 'webgpu' : 'cpu';
      entry = { op, count: 0, support };
      counts.set(op, entry);
    }
    entry.count++;
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op));
}
