/**
 * webtrt's engine: the public API. The JupyterLab face and the command line import only
 * from here; the engine knows nothing of either (nor of the DOM or Node): it takes bytes
 * and a GPUDevice and returns graphs, tensors and plain-object reports.
 */
import { Graph } from './ir/graph';
import { Tensor } from './ir/tensor';
import { NativeExecutor, NativeRunResult } from './runtime/native';
import { runReference } from './runtime/reference';

export { build } from './builder/build';
export type { BuildOptions, BuildProgress } from './builder/build';
export { MAX_OPTIMIZATION_LEVEL } from './builder/config';
export type { BuilderConfig, Precision } from './builder/config';
export type { MemoryPlan, PlannedTensor } from './builder/memory';
export type { PassReport } from './builder/pass';
export { TimingCache } from './builder/tuner';
export type { TacticTiming } from './builder/tuner';
export { Engine, ExecutionContext } from './runtime/engine';
export { checkOpsDefined, convert, ConvertedModel, planKind } from './runtime/converted';
export type {
  ConversionParams,
  ConvertedRunOptions,
  OptimizationProfile,
  ShapeRange
} from './runtime/converted';
export type { EngineCacheStats } from './runtime/engine-cache';
export type {
  BuildReport,
  ComputeTimes,
  EngineMemory,
  EngineProfile,
  LayerInfo,
  LayerProfile,
  PhaseTimes,
  TensorInfo,
  TimedExecution
} from './runtime/engine';
export { importOnnx, decodeTensor } from './onnx/index';
export type { ImportOptions } from './onnx/index';
export { parseNpy, encodeNpy } from './io/npy';
export { seededRandom } from './io/random';
export { randomInput } from './io/random';
export type { DataType, TypedArray } from './ir/dtype';
export { isFloat, bytesPerElement } from './ir/dtype';
export type { AttributeValue, Dim, Graph, Node, ValueInfo, ValueType } from './ir/graph';
export { opsetOf, shapeTemplate, shapeToString } from './ir/graph';
export { sizeOf, stridesOf, Tensor } from './ir/tensor';
export { inferShapes } from './ops/infer';
export { findOp, registerOp, supportedOps } from './ops/registry';
export { OpError } from './ops/types';
export type { InferInput, OpContext, OpDefinition } from './ops/types';
export { checkFeeds } from './runtime/feeds';
export { describeAdapter } from './runtime/fingerprint';
export { requestEngineDevice } from './runtime/device';
export type { NativeRunResult, NodePlacement } from './runtime/native';
export { NativeExecutor } from './runtime/native';
export { prepareNodes, UnsupportedOpError } from './runtime/prepare';
export type { PreparedNode } from './runtime/prepare';
export { runReference } from './runtime/reference';
export { chromeTrace, latencySummary, profileTable } from './runtime/stats';
export * from './reports/types';
export { deviceReport } from './reports/device';
export { modelReport, valueSummary } from './reports/model';
export type { ModelSource } from './reports/model';
export { partitionGraph } from './reports/partitions';
export { qualifiedOpType } from './builder/support';
export type { SupportOptions } from './builder/support';
export { computedByOneEngine, DEFAULT_MINIMUM_SEGMENT_SIZE, segmentGraph } from './builder/segment';
export type { GraphSegment, SegmentOptions, Segmentation } from './builder/segment';

export { engineReport } from './reports/engine';
export { conversionReport, segmentationSummary } from './reports/conversion';
export type { ConversionReportOptions } from './reports/conversion';
export type { EngineReportOptions } from './reports/engine';
export { outputSummary, runReport } from './reports/run';
export type { OutputSummaryOptions, RunRecord } from './reports/run';
export { PROFILE_CLOCKS, profileReport, profileTrace } from './reports/profile';
export type { ProfileTrace } from './reports/profile';
export { calibrate } from './quant/calibrate';
export { calibrationReport, calibratorName } from './reports/calibration';
export {
  compareAccuracy,
  dataInputSets,
  DEFAULT_TOLERANCES,
  failedOutputs,
  fallbackWorstInt8Layers,
  fp32ReferenceConfig,
  randomInputSets
} from './reports/accuracy';
export type { AccuracyOptions, AccuracyReference, InputSet, InputSets } from './reports/accuracy';
export type {
  CalibrationBatch,
  CalibrationOptions,
  CalibrationProgress,
  CalibrationResult
} from './quant/calibrate';
export {
  calibratedAmax,
  entropyAmax,
  INT8_MAX,
  int8Scale,
  percentileAmax
} from './quant/calibrators';
export type { Calibrator } from './quant/calibrators';
export { AbsHistogram, HISTOGRAM_BINS } from './quant/histogram';
export type { TensorHistogram } from './quant/histogram';
export {
  calibrationCache,
  DEFAULT_TRT_VERSION,
  readCalibrationCache,
  writeCalibrationCache
} from './quant/cache';
export type { CalibrationCache, CalibratorName } from './quant/cache';
export { CalibrationDataError, readCalibrationData } from './quant/calibration-data';
export type {
  CalibrationData,
  CalibrationDataEntry,
  CalibrationDataReader
} from './quant/calibration-data';
export { hasExplicitQuantization } from './quant/explicit';
export { quantizeWeightsPerChannel } from './quant/weights';
export type { QuantizedWeights } from './quant/weights';
export { benchmark } from './reports/bench';
export type { BenchOptions, BenchProgress } from './reports/bench';
export { outputSummaryLines, reportText } from './reports/text';
export {
  columns,
  counted,
  field,
  formatBytes,
  formatCount,
  formatMs,
  formatValue
} from './reports/format';
export type { ChromeTrace, LatencySummary } from './runtime/stats';

export type Backend = 'webgpu' | 'cpu';

/**
 * Runs a graph once on the chosen backend: 'webgpu' (the op-by-op baseline on `device`)
 * or 'cpu' (the reference ops). The result says where each node ran.
 */
export async function runGraph(
  graph: Graph,
  feeds: Record<string, Tensor>,
  options: { backend: 'cpu' } | { backend: 'webgpu'; device: GPUDevice }
): Promise<NativeRunResult> {
  if (options.backend === 'webgpu') {
    return new NativeExecutor(options.device).run(graph, feeds);
  }
  const outputs = runReference(graph, feeds);
  return {
    outputs,
    placements: graph.nodes.map(node => ({ node: node.name, opType: node.opType, device: 'cpu' }))
  };
}
