/**
 * Everything the command line takes from the engine, in one place, from its public API
 * only (the CLI sits above the engine and does not reach into it).
 */
export {
  checkFeeds,
  decodeTensor,
  encodeNpy,
  findOp,
  importOnnx,
  isFloat,
  NativeExecutor,
  parseNpy,
  prepareNodes,
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
  DataType,
  Dim,
  Graph,
  NativeRunResult,
  NodePlacement,
  ValueInfo
} from '../engine/index';
