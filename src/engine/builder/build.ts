/**
 * The builder (TensorRT's IBuilder::buildSerializedNetwork): from an imported graph and a
 * configuration to an engine for one device.
 */
import { Graph } from '../ir/graph';
import { Engine } from '../runtime/engine';
import { TimingCache } from './tuner';
import { BuilderConfig, checkConfig, resolveInputShapes } from './config';
import { runPasses, withInferredTypes } from './pass';
import {
  assignPrecision,
  eliminateDeadNodes,
  quantizeLayers,
  STANDARD_PASSES
} from './passes/index';

/** Where a build stands: after the passes, and after each layer is recorded (and tuned). */
export interface BuildProgress {
  /** Layers recorded so far, of `totalLayers`. */
  layersDone: number;
  totalLayers: number;
  /** The layer just recorded; absent in the first report, sent when the passes are done. */
  layer?: string;
}

export interface BuildOptions {
  /** Shared by builds so that each layer shape is timed once. */
  timingCache?: TimingCache;
  /** Aborting it stops the build before the next layer; the build then rejects with its reason. */
  signal?: AbortSignal;
  onProgress?: (progress: BuildProgress) => void;
}

/**
 * Builds an engine for `graph` on `device`: fixes the input shapes the config gives, runs
 * the standard passes (constant folding, identity and dead-node elimination, fusions) and
 * then chooses each layer's precision (INT8 layers first, then FP16), plans memory and records every layer's kernel.
 * Layers whose kernels offer several tactics are timed on `device` (from optimization level
 * 1), through `timingCache` when given, so that builds sharing it time each layer shape once.
 * Fails, naming the node, when a layer cannot run on the GPU. `graph` is not modified.
 */
export async function build(
  graph: Graph,
  config: BuilderConfig,
  device: GPUDevice,
  options: BuildOptions = {}
): Promise<Engine> {
  const started = performance.now();
  checkConfig(config);
  const concrete = withInferredTypes({
    ...graph,
    inputs: resolveInputShapes(graph, config.shapes),
    // Declared output shapes may hold the symbols the inputs now fix: inference redoes them.
    outputs: graph.outputs.map(({ name, dtype }) => ({ name, dtype })),
    nodes: [...graph.nodes],
    initializers: new Map(graph.initializers)
  });
  const importedNodes = graph.nodes.map(node => node.name);
  const optimized = runPasses(concrete, [
    ...STANDARD_PASSES,
    quantizeLayers(config),
    // The explicit QuantizeLinear / DequantizeLinear and float weights INT8 layers replaced.
    eliminateDeadNodes,
    assignPrecision(config, { importedNodes })
  ]);
  return Engine.assemble(
    optimized.graph,
    config,
    // Recording compiles the kernels: the build time counts it.
    () => ({ passes: optimized.report, buildTimeMs: performance.now() - started }),
    device,
    { timingCache: options.timingCache },
    options
  );
}
