/**
 * The builder (TensorRT's IBuilder::buildSerializedNetwork): from an imported graph and a
 * configuration to an engine for one device.
 */
import { Graph } from '../ir/graph';
import { hasExplicitQuantization } from '../quant/explicit';
import { Engine, LayerInfo } from '../runtime/engine';
import { DEFAULT_OPTIMIZATION_LEVEL } from '../runtime/tactics';
import { TimingCache } from './tuner';
import { BuilderConfig, checkConfig, resolveInputShapes } from './config';
import { PassReport, runPasses, withInferredTypes } from './pass';
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
  /** Which of a build's builds this is, where it makes more than one ('best' timing FP16). */
  stage?: string;
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
 * With precision 'best', calibration scales and tuning, each INT8 layer is timed against
 * the same layer in FP16 too, and layers that FP16 runs faster stay in FP16 (as TensorRT's
 * builder chooses among the precisions it is allowed). Fails, naming the node, when a layer
 * cannot run on the GPU. `graph` is not modified.
 */
export async function build(
  graph: Graph,
  config: BuilderConfig,
  device: GPUDevice,
  options: BuildOptions = {}
): Promise<Engine> {
  if (!choosesPrecisionByTiming(graph, config)) {
    return buildOnce(graph, config, device, options);
  }
  const started = performance.now();
  const shared = { ...options, timingCache: options.timingCache ?? new TimingCache() };
  const stage = (name: string): BuildOptions => ({
    ...shared,
    onProgress: progress => options.onProgress?.({ ...progress, stage: name })
  });
  const fp16 = await buildOnce(graph, { ...config, precision: 'fp16' }, device, stage(FP16_STAGE));
  const fp16Ms = new Map(fp16.layers.map(layer => [layer.name, chosenTacticMs(layer)]));
  fp16.destroy();
  const int8 = await buildOnce(graph, config, device, stage(INT8_STAGE));
  const holds = config.layerPrecisions ?? {};
  const fasterInFp16 = int8.layers.filter(layer => {
    const [int8Ms, otherMs] = [chosenTacticMs(layer), fp16Ms.get(layer.name)];
    return (
      layer.precision === 'int8' &&
      holds[layer.name] !== 'int8' &&
      int8Ms !== undefined &&
      otherMs !== undefined &&
      otherMs < int8Ms
    );
  });
  const choice: PassReport = {
    pass: 'choosePrecisionByTiming',
    changes: fasterInFp16.map(
      layer =>
        `${layer.name}: FP16, ${microseconds(fp16Ms.get(layer.name)!)} against INT8's ${microseconds(chosenTacticMs(layer)!)}`
    )
  };
  if (fasterInFp16.length === 0) {
    return withChoice(int8, choice, started);
  }
  int8.destroy();
  const held = Object.fromEntries(fasterInFp16.map(layer => [layer.name, 'fp16' as const]));
  const chosen = await buildOnce(
    graph,
    { ...config, layerPrecisions: { ...holds, ...held } },
    device,
    stage(FINAL_STAGE)
  );
  return withChoice(chosen, choice, started);
}

const FP16_STAGE = 'timing each layer in FP16';
const INT8_STAGE = 'timing each layer in INT8';
const FINAL_STAGE = 'building with the faster precision of each layer';

/** Whether `build` times INT8 layers against FP16 ones: 'best', implicit scales, tuning on. */
function choosesPrecisionByTiming(graph: Graph, config: BuilderConfig): boolean {
  return (
    config.precision === 'best' &&
    config.int8Scales !== undefined &&
    (config.optimizationLevel ?? DEFAULT_OPTIMIZATION_LEVEL) > 0 &&
    !hasExplicitQuantization(graph)
  );
}

/** The time of the tactic a layer runs, when the builder timed its tactics. */
function chosenTacticMs(layer: LayerInfo): number | undefined {
  return layer.tacticTimings?.find(timing => timing.tactic === layer.tactic)?.ms;
}

function microseconds(ms: number): string {
  return `${(ms * 1000).toFixed(1)} µs`;
}

/**
 * `engine` with the precision choice added to its build report, and the build time counted
 * from `started`, the comparison's builds included.
 */
function withChoice(engine: Engine, choice: PassReport, started: number): Engine {
  engine.buildReport.passes.push(choice);
  engine.buildReport.buildTimeMs = performance.now() - started;
  return engine;
}

/** One build: passes, precisions by rule, recording and tuning. */
async function buildOnce(
  graph: Graph,
  config: BuilderConfig,
  device: GPUDevice,
  options: BuildOptions
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
