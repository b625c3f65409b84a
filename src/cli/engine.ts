/**
 * Everything the command line takes from the engine, in one place, from its public API
 * only (the CLI sits above the engine and does not reach into it).
 */
export {
  build,
  checkFeeds,
  chromeTrace,
  decodeTensor,
  describeAdapter,
  encodeNpy,
  Engine,
  findOp,
  importOnnx,
  isFloat,
  latencySummary,
  MAX_OPTIMIZATION_LEVEL,
  NativeExecutor,
  parseNpy,
  prepareNodes,
  profileTable,
  randomInput,
  requestEngineDevice,
  runGraph,
  seededRandom,
  shapeToString,
  sizeOf,
  stridesOf,
  Tensor,
  UnsupportedOpError
} from '../engine/index';
export type {
  Backend,
  BuilderConfig,
  ChromeTrace,
  DataType,
  Dim,
  EngineProfile,
  Graph,
  LatencySummary,
  LayerInfo,
  NativeRunResult,
  NodePlacement,
  PhaseTimes,
  Precision,
  TimedExecution,
  ValueInfo
} from '../engine/index';
