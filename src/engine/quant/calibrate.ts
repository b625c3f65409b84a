/**
 * INT8 calibration (TensorRT's IInt8Calibrator): the model runs in FP32 over calibration
 * batches, every tensor's values are gathered into a histogram, and a calibrator turns each
 * histogram into the magnitude that tensor's INT8 range covers.
 */
import { build } from '../builder/build';
import { Graph } from '../ir/graph';
import { Tensor } from '../ir/tensor';
import { Engine, ExecutionContext } from '../runtime/engine';
import { Calibrator, calibratedAmax } from './calibrators';
import { AbsHistogram, TensorHistogram } from './histogram';

/** Where calibration stands: batches run so far, of `totalBatches` when the data says. */
export interface CalibrationProgress {
  batchesDone: number;
  totalBatches?: number;
}

export interface CalibrationOptions {
  calibrator: Calibrator;
  /** Stops calibration before the next batch; it then rejects with the signal's reason. */
  signal?: AbortSignal;
  onProgress?: (progress: CalibrationProgress) => void;
  /** How many batches the data holds, for progress. */
  totalBatches?: number;
}

export interface CalibrationResult {
  /** Each calibrated tensor's amax (its INT8 scale is amax / 127), by ONNX tensor name. */
  amax: Map<string, number>;
  histograms: Map<string, TensorHistogram>;
  batches: number;
}

/** A batch: a value for every graph input. */
export type CalibrationBatch = Record<string, Tensor>;

/**
 * Calibrates `graph` on `device` over `batches`: the graph inputs and every float tensor a node
 * produces are gathered, through FP32 engines (one per batch shape) that output every such
 * tensor, so each is seen as the model computes it, before any fusion hides it.
 */
export async function calibrate(
  graph: Graph,
  batches: Iterable<CalibrationBatch> | AsyncIterable<CalibrationBatch>,
  device: GPUDevice,
  options: CalibrationOptions
): Promise<CalibrationResult> {
  const { inputs, produced } = calibratedTensors(graph);
  const histograms = new Map([...inputs, ...produced].map(name => [name, new AbsHistogram()]));
  const outputs = produced.map(name => ({ name, dtype: 'float32' as const }));
  const engines = new Map<string, { engine: Engine; context: ExecutionContext }>();
  let batchesDone = 0;
  try {
    for await (const feeds of batches) {
      options.signal?.throwIfAborted();
      const key = JSON.stringify(graph.inputs.map(({ name }) => feeds[name]?.shape));
      let held = engines.get(key);
      if (!held) {
        const engine = await build(
          { ...graph, outputs },
          {
            precision: 'fp32',
            optimizationLevel: 0,
            shapes: Object.fromEntries(
              graph.inputs.map(({ name }) => [name, [...feeds[name].shape]])
            )
          },
          device,
          { signal: options.signal }
        );
        held = { engine, context: engine.createContext() };
        engines.set(key, held);
      }
      const values = { ...feeds, ...(await held.context.execute(feeds)) };
      for (const [name, histogram] of histograms) {
        histogram.add(values[name].data as ArrayLike<number>);
      }
      batchesDone++;
      options.onProgress?.({ batchesDone, totalBatches: options.totalBatches });
    }
  } finally {
    engines.forEach(({ engine }) => engine.destroy());
  }
  if (batchesDone === 0) {
    throw new Error('calibration needs at least one batch of data');
  }
  const finished = new Map([...histograms].map(([name, h]) => [name, h.histogram()]));
  return {
    amax: new Map([...finished].map(([name, h]) => [name, calibratedAmax(h, options.calibrator)])),
    histograms: finished,
    batches: batchesDone
  };
}

/** The float32 graph inputs and node outputs: what INT8 layers read and write. */
function calibratedTensors(graph: Graph): { inputs: string[]; produced: string[] } {
  return {
    inputs: graph.inputs.filter(input => input.dtype === 'float32').map(input => input.name),
    produced: graph.nodes.flatMap(node =>
      node.outputs.filter(name => name && graph.valueTypes.get(name)?.dtype === 'float32')
    )
  };
}
