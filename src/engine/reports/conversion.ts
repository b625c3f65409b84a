import { Precision } from '../builder/config';
import { DEFAULT_MINIMUM_SEGMENT_SIZE, Segmentation } from '../builder/segment';
import { qualifiedOpType } from '../builder/support';
import { Graph, Node } from '../ir/graph';
import type { ConvertedModel } from '../runtime/converted';
import type { LayerInfo } from '../runtime/engine';
import { describeAdapter } from '../runtime/fingerprint';
import { valueSummary } from './model';
import { partitionGraph } from './partitions';
import type { ConversionReport, SegmentValue } from './types';

export interface ConversionReportOptions {
  /** Where the converted model's plan was written or read. */
  plan?: { path: string; bytes: number };
}

/**
 * TF-TRT's converter.summary() of a converted model, with its engine caches and the
 * partition graph whose nodes carry their segments and the layers of the cached engines.
 */
export function conversionReport(
  model: ConvertedModel,
  source: string,
  options: ConversionReportOptions = {}
): ConversionReport {
  const layers = model.engineSegments.flatMap(segment =>
    model.cache(segment.id).cached.flatMap(({ engine }) => engine.layers)
  );
  const summary = summarize(model.segmentation, source, model.params, layers);
  return {
    ...summary,
    ...(options.plan && { plan: { ...options.plan } }),
    device: describeAdapter(model.device.adapterInfo),
    engines: summary.engines.map(row => ({ ...row, cache: model.cache(row.segment).stats() }))
  };
}

/**
 * The summary of a segmentation alone, before anything is built (`webtrt summary`): engine
 * inputs and outputs carry the model's symbolic dims, and there are no caches.
 */
export function segmentationSummary(
  segmentation: Segmentation,
  source: string,
  params: SummaryParams = {}
): ConversionReport {
  return summarize(segmentation, source, params, []);
}

type SummaryParams = { precision?: Precision; maximumCachedEngines?: number };

/** The summary, its partition graph's nodes tagged with `layers` (of engines built from it). */
function summarize(
  segmentation: Segmentation,
  source: string,
  params: SummaryParams,
  layers: readonly LayerInfo[]
): ConversionReport {
  const { graph, segments, fallbackReasons, options } = segmentation;
  const engines = segments
    .filter(segment => segment.kind === 'engine')
    .map(segment => ({
      segment: segment.id,
      nodes: segment.nodes.length,
      inputs: segment.inputs.map(name => valueOf(graph, name)),
      outputs: segment.outputs.map(name => valueOf(graph, name)),
      ops: opCounts(segment.nodes).map(([op, nodes]) => ({ op, count: nodes.length }))
    }));
  const fallback = graph.nodes.filter(node => fallbackReasons.has(node.name));
  return {
    kind: 'conversion',
    source,
    precision: params.precision ?? 'fp32',
    minimumSegmentSize: options.minimumSegmentSize ?? DEFAULT_MINIMUM_SEGMENT_SIZE,
    denyOps: [...(options.denyOps ?? [])],
    maximumCachedEngines: params.maximumCachedEngines ?? 1,
    engines,
    converted: { nodes: graph.nodes.length - fallback.length, total: graph.nodes.length },
    unconverted: opCounts(fallback).map(([op, nodes]) => ({
      op,
      count: nodes.length,
      reasons: [...new Set(nodes.map(node => fallbackReasons.get(node.name)!))]
    })),
    partitions: partitionGraph(segmentation, layers)
  };
}

/** Nodes by qualified op type, the most frequent type first (ties by name). */
function opCounts(nodes: readonly Node[]): [string, Node[]][] {
  const byOp = new Map<string, Node[]>();
  for (const node of nodes) {
    const op = qualifiedOpType(node);
    (byOp.get(op) ?? byOp.set(op, []).get(op)!).push(node);
  }
  return [...byOp].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
}

function valueOf(graph: Graph, name: string): SegmentValue {
  const type =
    graph.valueTypes.get(name) ??
    graph.inputs.find(input => input.name === name) ??
    graph.outputs.find(output => output.name === name);
  return type ? valueSummary({ name, ...type }) : { name };
}
