import { Graph } from '../ir/graph';
import { Engine } from '../runtime/engine';
import { describeAdapter } from '../runtime/fingerprint';
import { valueSummary } from './model';
import { SegmentOptions } from '../builder/segment';
import { partitionGraph } from './partitions';
import type { EngineReport } from './types';

export interface EngineReportOptions {
  /** The imported ONNX graph the engine was built from, when it is at hand. */
  graph?: Graph;
  /** Where the engine's plan was written or read. */
  plan?: { path: string; bytes: number };
  /** How the partition graph segments the nodes (TF-TRT's minimum_segment_size). */
  partitions?: SegmentOptions;
}

/**
 * A built or loaded engine as a plain object: the build log (passes, time, precision) and
 * the engine inspector (layers with their fused nodes, precisions and tactics, the memory
 * plan, weights). The partition graph shows the ONNX nodes tagged with their layers when
 * `graph` is given, else the engine's own graph, one node per layer.
 */
export function engineReport(
  engine: Engine,
  source: string,
  options: EngineReportOptions = {}
): EngineReport {
  const { graph, plan, partitions } = options;
  const weights = [...engine.graph.initializers.values()];
  // A copy: the report outlives the engine and may be kept, sent or changed by its reader.
  const layers = structuredClone([...engine.layers]);
  return {
    kind: 'engine',
    source,
    ...(plan && { plan: { ...plan } }),
    device: describeAdapter(engine.device.adapterInfo),
    precision: engine.config.precision,
    buildTimeMs: engine.buildReport.buildTimeMs,
    ...(graph && { onnxNodes: graph.nodes.length }),
    inputs: engine.graph.inputs.map(valueSummary),
    outputs: engine.graph.outputs.map(valueSummary),
    passes: structuredClone(engine.buildReport.passes),
    layers,
    memory: structuredClone(engine.memory),
    weights: {
      bytes: weights.reduce((sum, tensor) => sum + tensor.data.byteLength, 0),
      tensors: weights.length
    },
    partitions: partitionGraph(graph ?? engine.graph, layers, partitions)
  };
}
