/**
 * The tutorials' benchmark table, "native vs FP32 vs FP16 vs INT8": the op-by-op executor and
 * engines of each precision, at each batch size, timed on one device.
 */
import { build } from '../builder/build';
import { Precision } from '../builder/config';
import { Graph } from '../ir/graph';
import { hasExplicitQuantization } from '../quant/explicit';
import { Tensor } from '../ir/tensor';
import { randomInput, seededRandom } from '../io/random';
import { NativeExecutor } from '../runtime/native';
import { describeAdapter } from '../runtime/fingerprint';
import { latencySummary } from '../runtime/stats';
import type { BenchMode, BenchReport } from './types';

export interface BenchProgress {
  /** Executions done, of `total` (every mode's first run, warm-up and timed runs). */
  done: number;
  total: number;
  /** What is under way: "fp32, batch 8: building, layer 3 of 12", "native, batch 1: run 4 of 20". */
  step: string;
}

export interface BenchOptions {
  device: GPUDevice;
  modes: readonly BenchMode[];
  batches: readonly number[];
  /** Timed runs per mode and batch. */
  iterations: number;
  /** Untimed runs after the first and before the timed ones (default 2). */
  warmup?: number;
  /**
   * Shapes of inputs whose other dims are not fixed by the model; dim 0 is set to each batch
   * size whatever is given.
   */
  shapes?: Record<string, number[]>;
  /** The builder's optimization level for the engines (BuilderConfig.optimizationLevel). */
  optimizationLevel?: number;
  /**
   * The INT8 scales of the 'int8' and 'best' engines (BuilderConfig.int8Scales), from a
   * calibration cache. 'int8' needs them unless the graph quantizes itself with
   * QuantizeLinear / DequantizeLinear.
   */
  int8Scales?: Record<string, number>;
  /** What the report names as its source (default: the graph's name). */
  source?: string;
  /** Aborting it stops the benchmark between runs; it then rejects with the signal's reason. */
  signal?: AbortSignal;
  onProgress?: (update: BenchProgress) => void;
}

const MODES: readonly BenchMode[] = ['native', 'fp32', 'fp16', 'int8', 'best'];
const DEFAULT_WARMUP = 2;

/**
 * Runs `graph` in each mode at each batch size on random inputs (dim 0 of every input set to
 * the batch size) and times it: 'native' is the op-by-op executor (NativeExecutor), the others
 * an engine built in that precision, destroyed once timed. Latency is per end-to-end run
 * (inputs written, outputs read back), throughput the batch over the median latency.
 * A mode that cannot run at a batch is listed in `skipped` with the reason: a batch the model
 * fixes to another size, FP16 on a device without 'shader-f16', or the error it failed with.
 */
export async function benchmark(graph: Graph, options: BenchOptions): Promise<BenchReport> {
  const { device, modes, batches, iterations, signal } = options;
  const warmup = options.warmup ?? DEFAULT_WARMUP;
  checkOptions(options, warmup);
  const report: BenchReport = {
    kind: 'bench',
    source: options.source ?? graph.name,
    device: describeAdapter(device.adapterInfo),
    iterations,
    rows: [],
    skipped: []
  };
  const runnable = modes.filter(mode => {
    const reason = modeRefusal(mode, graph, options);
    if (reason) {
      report.skipped.push({ mode, reason });
    }
    return !reason;
  });
  const plans = batches.flatMap(batch => {
    const shapes = batchShapes(graph, batch, options.shapes ?? {});
    if (typeof shapes === 'string') {
      report.skipped.push(...runnable.map(mode => ({ mode, batch, reason: shapes })));
      return [];
    }
    return runnable.map(mode => ({ mode, batch, shapes }));
  });

  const runsPerRow = 1 + warmup + iterations;
  let done = 0;
  const progress = (step: string) =>
    options.onProgress?.({ done, total: plans.length * runsPerRow, step });
  for (const [row, { mode, batch, shapes }] of plans.entries()) {
    signal?.throwIfAborted();
    const label = `${mode}, batch ${batch}`;
    const rowStart = row * runsPerRow;
    let runner: Runner | undefined;
    try {
      const feeds = randomFeeds(graph, shapes);
      const buildStarted = performance.now();
      runner = await prepareRunner(graph, mode, shapes, options, layer =>
        progress(`${label}: building, ${layer}`)
      );
      const buildMs = mode === 'native' ? undefined : performance.now() - buildStarted;
      const timesMs: number[] = [];
      let firstRunMs = 0;
      for (let run = 0; run < runsPerRow; run++) {
        signal?.throwIfAborted();
        done = rowStart + run;
        progress(`${label}: ${runStep(run, warmup, iterations)}`);
        const started = performance.now();
        await runner.run(feeds);
        const ms = performance.now() - started;
        if (run === 0) {
          firstRunMs = ms;
        } else if (run > warmup) {
          timesMs.push(ms);
        }
      }
      const latency = latencySummary(timesMs);
      report.rows.push({
        mode,
        batch,
        ...(buildMs !== undefined && { buildMs }),
        firstRunMs,
        latency,
        throughput: batch / (latency.median / 1000)
      });
    } catch (error) {
      signal?.throwIfAborted();
      report.skipped.push({ mode, batch, reason: (error as Error).message });
    } finally {
      runner?.dispose();
    }
    done = rowStart + runsPerRow;
  }
  progress('done');
  return report;
}

function checkOptions(options: BenchOptions, warmup: number): void {
  const { modes, batches, iterations } = options;
  if (modes.length === 0) {
    throw new Error(`benchmark: no modes given (${MODES.join(', ')})`);
  }
  const unknown = modes.find(mode => !MODES.includes(mode));
  if (unknown !== undefined) {
    throw new Error(`benchmark: unknown mode '${unknown}' (modes: ${MODES.join(', ')})`);
  }
  if (batches.length === 0 || !batches.every(batch => Number.isInteger(batch) && batch >= 1)) {
    throw new Error(`benchmark: batches must be positive integers, got [${batches.join(', ')}]`);
  }
  const repeated = (list: readonly (string | number)[]) =>
    list.find((item, i) => list.indexOf(item) !== i);
  const mode = repeated(modes);
  const batch = repeated(batches);
  if (mode !== undefined || batch !== undefined) {
    const what = mode !== undefined ? `mode ${mode}` : `batch ${batch}`;
    throw new Error(`benchmark: ${what} is given twice`);
  }
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw new Error(`benchmark: iterations must be a positive integer, got ${iterations}`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new Error(`benchmark: warmup must be a non-negative integer, got ${warmup}`);
  }
}

/** Why `mode` cannot be measured at any batch, or undefined. */
function modeRefusal(
  mode: BenchMode,
  graph: Graph,
  { device, int8Scales }: BenchOptions
): string | undefined {
  // Without it an FP16 engine still builds, but stores and computes in FP32: timing it
  // would pass FP32 off as FP16.
  if ((mode === 'fp16' || mode === 'best') && !device.features.has('shader-f16')) {
    return "the device has no 'shader-f16': FP16 would run in FP32";
  }
  // Likewise an INT8 engine without scales keeps every layer in FP32.
  if (mode === 'int8' && !int8Scales && !hasExplicitQuantization(graph)) {
    return 'no INT8 scales: calibrate the model and give its calibration cache (int8Scales)';
  }
  return undefined;
}

/**
 * Every input's shape at `batch`: dim 0 is the batch, the other dims as the model fixes them
 * or `shapes` gives them. A string says why the model does not run at this batch.
 */
function batchShapes(
  graph: Graph,
  batch: number,
  shapes: Record<string, number[]>
): Record<string, number[]> | string {
  const result: Record<string, number[]> = {};
  for (const input of graph.inputs) {
    const declared = input.shape ?? shapes[input.name];
    if (!declared) {
      throw new Error(`benchmark: input '${input.name}' has no declared shape: give it in shapes`);
    }
    const given = shapes[input.name];
    if (given && given.length !== declared.length) {
      throw new Error(
        `benchmark: input '${input.name}' has rank ${declared.length}, shapes gives [${given.join(', ')}]`
      );
    }
    const shape = declared.map((dim, axis) => {
      if (axis === 0) {
        return batch;
      }
      const size = typeof dim === 'number' ? dim : given?.[axis];
      if (size === undefined) {
        const what = dim === null ? 'unknown' : `symbolic ('${dim}')`;
        throw new Error(
          `benchmark: input '${input.name}' dim ${axis} is ${what}: give the input's shape in shapes`
        );
      }
      return size;
    });
    const fixed = declared[0];
    if (typeof fixed === 'number' && fixed !== batch) {
      return `input '${input.name}' has a fixed batch of ${fixed}`;
    }
    result[input.name] = shape;
  }
  return result;
}

/** Random inputs of these shapes, the same for every mode at one batch size. */
function randomFeeds(graph: Graph, shapes: Record<string, number[]>): Record<string, Tensor> {
  const random = seededRandom(0);
  return Object.fromEntries(
    graph.inputs.map(input => [
      input.name,
      randomInput(input.dtype, shapes[input.name], random).tensor
    ])
  );
}

interface Runner {
  run(feeds: Record<string, Tensor>): Promise<unknown>;
  dispose(): void;
}

async function prepareRunner(
  graph: Graph,
  mode: BenchMode,
  shapes: Record<string, number[]>,
  options: BenchOptions,
  onLayer: (step: string) => void
): Promise<Runner> {
  if (mode === 'native') {
    const executor = new NativeExecutor(options.device);
    return { run: feeds => executor.run(graph, feeds), dispose: () => undefined };
  }
  const precision: Precision = mode;
  const { optimizationLevel, int8Scales } = options;
  const engine = await build(
    graph,
    {
      precision,
      shapes,
      ...(optimizationLevel !== undefined && { optimizationLevel }),
      ...(int8Scales && (mode === 'int8' || mode === 'best') && { int8Scales })
    },
    options.device,
    {
      signal: options.signal,
      onProgress: ({ layersDone, totalLayers, stage }) =>
        onLayer(`${stage ? `${stage}, ` : ''}layer ${layersDone} of ${totalLayers}`)
    }
  );
  const context = engine.createContext();
  return { run: feeds => context.execute(feeds), dispose: () => engine.destroy() };
}

function runStep(run: number, warmup: number, iterations: number): string {
  if (run === 0) {
    return 'first run';
  }
  return run <= warmup ? `warm-up ${run} of ${warmup}` : `run ${run - warmup} of ${iterations}`;
}
