/**
 * The engine (TensorRT's ICudaEngine) and its execution contexts: an optimized graph whose
 * every layer runs a WebGPU kernel recorded once, with its intermediate tensors in a few
 * planned arenas, its weights uploaded once, and a plan file that rebuilds it on a device
 * like the one it was built on.
 */
import { BuilderConfig, LayerPrecision } from '../builder/config';
import {
  lifetimes,
  MemoryPlan,
  planMemory,
  PlannedTensor,
  TensorLifetime
} from '../builder/memory';
import { PassReport } from '../builder/pass';
import { isInt8Layer } from '../builder/passes/quantize-layers';
import type { BuildOptions } from '../builder/build';
import { TacticTiming } from '../builder/tuner';
import { DataType } from '../ir/dtype';
import { Graph, Node } from '../ir/graph';
import { sizeOf, Tensor } from '../ir/tensor';
import { Dispatch, GpuTensor, KernelContext, storageBytes } from '../kernels/context';
import { OpError } from '../ops/types';
import { checkFeeds } from './feeds';
import { AdapterFingerprint, adapterFingerprint, checkFingerprint } from './fingerprint';
import {
  BoundDispatch,
  encodeDispatch,
  kernelDeclines,
  PendingErrors,
  PipelineCache,
  viewOf
} from './native';
import { decodePlanOf, encodePlan, PlanContents } from './plan';
import { loadGraph, storeGraph, StoredGraph } from './stored-graph';
import { checkOutputCount, PreparedNode, prepareNodes } from './prepare';
import { GpuTimer } from './profiler';
import { ChosenTactic, LayerTuner, TacticSelection } from './tactics';
import { createTensorBuffer, fromStorage, InputUpload, toStorage, upload } from './transfer';

/** Written in every engine plan's metadata; a reader refuses another format or version. */
const ENGINE_PLAN: PlanContents = { format: 'webtrt-engine', formatVersion: 1 };

/** WebGPU has no empty buffers: an arena of empty tensors still takes a word. */
const MIN_BUFFER_BYTES = 4;

/** A WebGPU query set holds at most 4096 queries: two timestamps per timed pass. */
const MAX_TIMED_PASSES_PER_SUBMISSION = 2048;

const EXECUTIONS_PER_WARM_UP_SUBMISSION = 4;

export interface TensorInfo {
  name: string;
  dtype: DataType;
  shape: number[];
}

/** One layer of the engine, as trtexec's --exportLayerInfo reports it. */
export interface LayerInfo {
  name: string;
  opType: string;
  /** The ONNX nodes the layer computes (its own node until fusion). */
  fusedNodes: string[];
  /**
   * 'int8' for an INT8 layer (whatever type it writes), 'fp16' when it writes float16
   * tensors (a reformat to float16 included).
   */
  precision: LayerPrecision;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Compute dispatches per run. */
  dispatches: number;
  /** The kernels it runs, by their dispatches' labels. */
  kernels: string[];
  /** The tactic its kernel runs with, when the kernel offers several. */
  tactic?: string;
  /** Each candidate tactic's time per run, when the builder timed them (kernel auto-tuning). */
  tacticTimings?: TacticTiming[];
}

/** Where an engine keeps its intermediate tensors (see planArenas). */
export interface EngineMemory {
  /** All arenas together. */
  arenaBytes: number;
  /** What one buffer per tensor would take (views take none). */
  sumBytes: number;
  /** The most bytes alive at any one step: no layout can use less. */
  peakLiveBytes: number;
  /** Each arena's plan. */
  arenas: MemoryPlan[];
}

/** One layer's time in each profiled iteration, as trtexec's --dumpProfile reports it. */
export interface LayerProfile {
  name: string;
  opType: string;
  /** A layer that dispatches nothing (a view) takes 0 ms. */
  timesMs: number[];
}

export interface EngineProfile {
  /**
   * 'gpu': timestamp queries around each layer's compute pass. 'wall-clock' (a device
   * without 'timestamp-query'): each layer submitted alone and timed on the host until
   * onSubmittedWorkDone, so its time includes the submission's overhead.
   */
  clock: 'gpu' | 'wall-clock';
  layers: LayerProfile[];
}

export interface BuildReport {
  passes: PassReport[];
  buildTimeMs: number;
}

/** One execution's phases in ms, as trtexec's H2D Latency, GPU Compute Time and D2H Latency. */
export interface PhaseTimes {
  /** Writing the inputs, until the queue has done it (wall clock). */
  h2dMs: number;
  /**
   * The layers' compute pass: between GPU timestamps around it ('gpu'), or without
   * 'timestamp-query' from its submit until the queue has done it ('wall-clock').
   */
  computeMs: number;
  /** Copying the outputs to the staging buffer and mapping it for the host (wall clock). */
  d2hMs: number;
}

export interface TimedExecution {
  outputs: Record<string, Tensor>;
  times: PhaseTimes;
  /** How computeMs was taken. */
  computeClock: 'gpu' | 'wall-clock';
}

/** GPU compute times of executions run back to back, as trtexec's GPU Compute Time. */
export interface ComputeTimes {
  /**
   * 'gpu': timestamps around each execution's compute pass, all passes submitted together so
   * the GPU runs them back to back. 'wall-clock' (a device without 'timestamp-query'): each
   * pass from its own submit until the queue has done it.
   */
  clock: 'gpu' | 'wall-clock';
  timesMs: number[];
}

/** What an engine owns on the GPU and replays on every run. */
interface Program {
  dispatches: BoundDispatch[];
  inputs: Map<string, GpuTensor>;
  /** Where each graph output lies: on the GPU, or on the host when it is a constant. */
  outputs: Map<string, GpuTensor | Tensor>;
  buffers: GPUBuffer[];
  layers: LayerInfo[];
  memory: EngineMemory;
}

export class Engine {
  private destroyed = false;
  private readonly contexts = new Set<ExecutionContext>();

  private constructor(
    readonly device: GPUDevice,
    /** The optimized graph the layers compute, with the concrete shapes it was built for. */
    readonly graph: Graph,
    readonly config: BuilderConfig,
    readonly buildReport: BuildReport,
    private readonly program: Program
  ) {}

  get layers(): readonly LayerInfo[] {
    return this.program.layers;
  }

  get memory(): EngineMemory {
    return this.program.memory;
  }

  /**
   * Records the engine of an optimized graph whose values all have concrete shapes: `build`
   * after its passes, `deserialize` from a plan. Fails naming the first node no WebGPU
   * kernel runs. `report` is asked for once recording is done (a build times it).
   */
  static async assemble(
    graph: Graph,
    config: BuilderConfig,
    report: () => BuildReport,
    device: GPUDevice,
    tactics: TacticSelection = {},
    observer: RecordingObserver = {}
  ): Promise<Engine> {
    const program = await recordProgram(graph, config, device, tactics, observer);
    return new Engine(device, graph, config, report(), program);
  }

  /**
   * A context to run the engine. Contexts share the engine's memory: runs are ordered on
   * the device's queue, so any number of contexts may run, one execute at a time each.
   */
  createContext(): ExecutionContext {
    this.checkAlive();
    const context = new ExecutionContext(this, this.program);
    this.contexts.add(context);
    return context;
  }

  /** The plan file: this engine's graph, config, layers and weights, tied to this adapter. */
  serialize(): Uint8Array<ArrayBuffer> {
    const blobs: Uint8Array[] = [];
    const metadata: StoredEngine = {
      ...ENGINE_PLAN,
      config: this.config,
      fingerprint: adapterFingerprint(this.device),
      buildReport: this.buildReport,
      graph: storeGraph(this.graph, blobs),
      layers: this.program.layers
    };
    return encodePlan({ metadata, blobs });
  }

  /**
   * Rebuilds a serialized engine on `device`, refusing a plan that is damaged, of another
   * format, or built for an adapter this device does not match.
   */
  static async deserialize(bytes: Uint8Array, device: GPUDevice): Promise<Engine> {
    const { stored, blobs } = decodePlanOf<StoredEngine>(bytes, ENGINE_PLAN);
    const refusal = checkFingerprint(stored.fingerprint, adapterFingerprint(device));
    if (refusal) {
      throw new Error(refusal);
    }
    const graph = loadGraph(stored.graph, blobs);
    // The plan's tactics are kept as built: a loaded engine is not tuned again.
    return Engine.assemble(graph, stored.config, () => stored.buildReport, device, {
      recorded: recordedTactics(stored.layers)
    });
  }

  /**
   * This engine recorded again with `tensors` read back as outputs too (the layers, their
   * tactics and so their values unchanged): how a comparison sees inside an engine.
   */
  async withOutputs(tensors: readonly TensorInfo[]): Promise<Engine> {
    this.checkAlive();
    const outputs = new Set(this.graph.outputs.map(output => output.name));
    const added = tensors
      .filter(({ name }) => !outputs.has(name))
      .map(({ name, dtype, shape }) => ({ name, dtype, shape: [...shape] }));
    return Engine.assemble(
      { ...this.graph, outputs: [...this.graph.outputs, ...added] },
      this.config,
      () => this.buildReport,
      this.device,
      { recorded: recordedTactics(this.program.layers) }
    );
  }

  destroy(): void {
    if (!this.destroyed) {
      this.destroyed = true;
      this.contexts.forEach(context => context.destroy());
      for (const buffer of this.program.buffers) {
        buffer.destroy();
      }
    }
  }

  /** @internal */
  checkAlive(): void {
    if (this.destroyed) {
      throw new Error(`engine '${this.graph.name}' has been destroyed`);
    }
  }
}

/** The tactic each layer was recorded with, by layer name: a re-recording keeps them. */
function recordedTactics(layers: readonly LayerInfo[]): Map<string, ChosenTactic> {
  return new Map(
    layers.map(({ name, tactic, tacticTimings }) => [
      name,
      { ...(tactic && { tactic }), ...(tacticTimings && { tacticTimings }) }
    ])
  );
}

/**
 * Runs an engine (TensorRT's IExecutionContext): each execute writes the inputs, replays
 * every recorded dispatch in one command buffer and reads the outputs back through a
 * staging buffer made once.
 */
export class ExecutionContext {
  private readonly inputUpload: InputUpload;
  private readonly staging: GPUBuffer | undefined;
  /** The graph outputs on the GPU, each at its byte offset in the staging buffer. */
  private readonly readbacks: { name: string; tensor: GpuTensor; at: number }[] = [];
  private running = false;
  /** Times executeTimed's compute pass; made on its first call, so execute pays nothing. */
  private phaseTimer: GpuTimer | undefined;

  /** Made by Engine.createContext. */
  constructor(
    readonly engine: Engine,
    private readonly program: Program
  ) {
    this.inputUpload = new InputUpload(
      engine.device,
      [...program.inputs.values()],
      `${engine.graph.name} inputs`
    );
    let end = 0;
    for (const [name, tensor] of program.outputs) {
      if (!(tensor instanceof Tensor)) {
        this.readbacks.push({ name, tensor, at: end });
        end += storageBytes(tensor);
      }
    }
    this.staging =
      end > 0
        ? engine.device.createBuffer({
            label: `${engine.graph.name} outputs`,
            size: end,
            usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST
          })
        : undefined;
  }

  /** Runs the engine on `feeds`, which must have exactly the shapes it was built for. */
  execute(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    return this.exclusively(feeds, () => this.run(feeds));
  }

  /**
   * Runs the engine as execute does, but waits for each phase (input writes, the layers,
   * the output readback) before starting the next, and times each one. The waits make the
   * whole run slower than execute, so time latency with execute and phases with this.
   */
  executeTimed(feeds: Record<string, Tensor>): Promise<TimedExecution> {
    return this.exclusively(feeds, () => this.runPhases(feeds));
  }

  /**
   * Runs the engine's layers on `feeds` back to back, with no host work in between: first
   * untimed for `warmUpMs` (a GPU raises its clocks only under sustained load), then `count`
   * times, timing each execution's compute pass. That is the GPU's own time per inference,
   * which phases awaited one by one (executeTimed) read with clocks lowered by the idle
   * gaps. Outputs are not read.
   */
  async timeCompute(
    feeds: Record<string, Tensor>,
    count: number,
    warmUpMs = 0
  ): Promise<ComputeTimes> {
    checkCount('timeCompute', 'count', count);
    const whole = { label: this.engine.graph.name, dispatches: this.program.dispatches };
    return this.exclusively(feeds, () =>
      this.timeSeries(feeds, new Array<TimedPass>(count).fill(whole), warmUpMs)
    );
  }

  /**
   * Runs the engine on `feeds` `iterations` times with each layer in a compute pass of its
   * own, and times every layer (TensorRT's IProfiler). Passes keep the device from
   * overlapping layers, so the total may exceed what execute takes. Outputs are not read.
   */
  async profile(feeds: Record<string, Tensor>, iterations = 1): Promise<EngineProfile> {
    checkCount('profile', 'iterations', iterations);
    return this.exclusively(feeds, () => this.timeLayers(feeds, iterations));
  }

  private async exclusively<T>(feeds: Record<string, Tensor>, work: () => Promise<T>): Promise<T> {
    this.engine.checkAlive();
    if (this.running) {
      throw new Error('this execution context is still running: await it, or create another');
    }
    checkFeeds(this.engine.graph, feeds);
    this.running = true;
    try {
      return await work();
    } finally {
      this.running = false;
    }
  }

  /** The feeds in the inputs' storage forms; this fails on values the GPU cannot store. */
  private storedInputs(feeds: Record<string, Tensor>) {
    return [...this.program.inputs].map(([name, target]) =>
      toStorage(feeds[name], name, target.storage)
    );
  }

  private async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const { device, graph } = this.engine;
    const stored = this.storedInputs(feeds);
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: graph.name });
    try {
      await this.inputUpload.write(encoder, stored);
    } catch (error) {
      await device.popErrorScope();
      throw error;
    }
    encodePass(encoder, graph.name, this.program.dispatches, undefined);
    this.encodeReadback(encoder);
    device.queue.submit([encoder.finish()]);
    this.inputUpload.submitted();
    await this.checkErrors();
    return this.readOutputs();
  }

  /** Uploads the inputs in a submission of their own. */
  private async submitInputs(feeds: Record<string, Tensor>): Promise<void> {
    const { device, graph } = this.engine;
    const encoder = device.createCommandEncoder({ label: `${graph.name} inputs` });
    await this.inputUpload.write(encoder, this.storedInputs(feeds));
    device.queue.submit([encoder.finish()]);
    this.inputUpload.submitted();
  }

  private async runPhases(feeds: Record<string, Tensor>): Promise<TimedExecution> {
    const { device, graph } = this.engine;
    const { queue } = device;
    const timer = (this.phaseTimer ??= new GpuTimer(device, 1));
    device.pushErrorScope('validation');
    let times: PhaseTimes;
    let outputs: Record<string, Tensor>;
    try {
      const started = performance.now();
      await this.submitInputs(feeds);
      await queue.onSubmittedWorkDone();
      const written = performance.now();

      const compute = device.createCommandEncoder({ label: graph.name });
      encodePass(compute, graph.name, this.program.dispatches, timer.timestampWrites(graph.name));
      timer.resolve(compute);
      queue.submit([compute.finish()]);
      await queue.onSubmittedWorkDone();
      const computed = performance.now();

      const readback = device.createCommandEncoder({ label: `${graph.name} outputs` });
      this.encodeReadback(readback);
      queue.submit([readback.finish()]);
      outputs = await this.readOutputs();
      const read = performance.now();

      const computeMs =
        timer.clock === 'timestamp-query' ? (await timer.read())[0].durationMs : computed - written;
      times = { h2dMs: written - started, computeMs, d2hMs: read - computed };
    } catch (error) {
      // The timer may hold timestamps that were never read: the next run starts a new one.
      timer.destroy();
      this.phaseTimer = undefined;
      await device.popErrorScope();
      throw error;
    }
    await this.checkErrors();
    const computeClock = timer.clock === 'timestamp-query' ? 'gpu' : 'wall-clock';
    return { outputs, times, computeClock };
  }

  /** Copies the graph outputs that lie on the GPU into the staging buffer. */
  private encodeReadback(encoder: GPUCommandEncoder): void {
    for (const { tensor, at } of this.readbacks) {
      const bytes = storageBytes(tensor);
      encoder.copyBufferToBuffer(tensor.buffer, tensor.offset ?? 0, this.staging!, at, bytes);
    }
  }

  /** The outputs, once the staging buffer has been written: mapped, and the constants. */
  private async readOutputs(): Promise<Record<string, Tensor>> {
    const result: Record<string, Tensor> = {};
    if (this.staging) {
      await this.staging.mapAsync(GPUMapMode.READ);
      const raw = this.staging.getMappedRange();
      for (const { name, tensor, at } of this.readbacks) {
        const bytes = raw.slice(at, at + storageBytes(tensor));
        result[name] = fromStorage(tensor.dtype, tensor.shape, bytes, tensor.storage);
      }
      this.staging.unmap();
    }
    for (const [name, output] of this.program.outputs) {
      if (output instanceof Tensor) {
        result[name] = output;
      }
    }
    return result;
  }

  private async timeLayers(
    feeds: Record<string, Tensor>,
    iterations: number
  ): Promise<EngineProfile> {
    const passes = layerPasses(this.program);
    const { clock, timesMs } = await this.timeSeries(
      feeds,
      Array.from({ length: iterations }, () => passes).flat()
    );
    const layerTimes = this.program.layers.map(() => new Array<number>(iterations).fill(0));
    timesMs.forEach((ms, i) => {
      layerTimes[passes[i % passes.length].layer][Math.floor(i / passes.length)] = ms;
    });
    return {
      clock,
      layers: this.program.layers.map(({ name, opType }, i) => ({
        name,
        opType,
        timesMs: layerTimes[i]
      }))
    };
  }

  /**
   * Writes the inputs, then runs `passes` in order and times each: by GPU timestamps with as
   * many passes per submission as a query set holds, or else one submission per pass.
   */
  private async timeSeries(
    feeds: Record<string, Tensor>,
    passes: readonly TimedPass[],
    warmUpMs = 0
  ): Promise<ComputeTimes> {
    const { device } = this.engine;
    const timer = new GpuTimer(
      device,
      Math.max(1, Math.min(passes.length, MAX_TIMED_PASSES_PER_SUBMISSION))
    );
    device.pushErrorScope('validation');
    let timesMs: number[];
    try {
      await this.submitInputs(feeds);
      await this.runUntimed(warmUpMs);
      timesMs =
        timer.clock === 'timestamp-query'
          ? await this.timePasses(passes, timer)
          : await this.timeSubmissions(passes);
    } catch (error) {
      await device.popErrorScope();
      throw error;
    } finally {
      timer.destroy();
    }
    await this.checkErrors();
    return { clock: timer.clock === 'timestamp-query' ? 'gpu' : 'wall-clock', timesMs };
  }

  /**
   * Runs the whole engine for `ms`, a few executions per submission, the next submitted
   * before the previous is awaited so that the GPU never waits for the host.
   */
  private async runUntimed(ms: number): Promise<void> {
    const { device, graph } = this.engine;
    const started = performance.now();
    let previous: Promise<undefined> | undefined;
    while (performance.now() - started < ms) {
      const encoder = device.createCommandEncoder({ label: `${graph.name} warm-up` });
      for (let i = 0; i < EXECUTIONS_PER_WARM_UP_SUBMISSION; i++) {
        encodePass(encoder, graph.name, this.program.dispatches, undefined);
      }
      device.queue.submit([encoder.finish()]);
      const done = device.queue.onSubmittedWorkDone();
      // Awaited next round; if the previous one fails first (a lost device), not at all.
      done.catch(() => undefined);
      await previous;
      previous = done;
    }
    await previous;
  }

  /** Each pass's GPU time, from timestamps written around it, in as few submissions as fit. */
  private async timePasses(passes: readonly TimedPass[], timer: GpuTimer): Promise<number[]> {
    const { device } = this.engine;
    const times: number[] = [];
    for (let first = 0; first < passes.length; first += timer.maxPasses) {
      const encoder = device.createCommandEncoder({ label: `${this.engine.graph.name} profile` });
      for (const { label, dispatches } of passes.slice(first, first + timer.maxPasses)) {
        encodePass(encoder, label, dispatches, timer.timestampWrites(label));
      }
      timer.resolve(encoder);
      device.queue.submit([encoder.finish()]);
      times.push(...(await timer.read()).map(timing => timing.durationMs));
    }
    return times;
  }

  /** Each pass's host time from its own submit until the queue has done it. */
  private async timeSubmissions(passes: readonly TimedPass[]): Promise<number[]> {
    const { device } = this.engine;
    const times: number[] = [];
    for (const { label, dispatches } of passes) {
      const encoder = device.createCommandEncoder({ label: `${this.engine.graph.name} profile` });
      encodePass(encoder, label, dispatches, undefined);
      const started = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      times.push(performance.now() - started);
    }
    return times;
  }

  /** Pops the validation scope pushed before a run's first command. */
  private async checkErrors(): Promise<void> {
    const error = await this.engine.device.popErrorScope();
    if (error) {
      throw new Error(`engine '${this.engine.graph.name}': WebGPU error: ${error.message}`);
    }
  }

  destroy(): void {
    this.inputUpload.destroy();
    this.staging?.destroy();
    this.phaseTimer?.destroy();
  }
}

/** Dispatches timed as one compute pass. */
interface TimedPass {
  label: string;
  dispatches: readonly BoundDispatch[];
}

/** A layer's dispatches, profiled as one compute pass. */
interface LayerPass extends TimedPass {
  /** Index in the engine's layers. */
  layer: number;
}

function checkCount(method: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${method}: ${name} must be a positive integer, got ${value}`);
  }
}

/** A pass for each layer that dispatches anything, in order. */
function layerPasses(program: Program): LayerPass[] {
  let next = 0;
  const passes = program.layers.map((info, layer) => ({
    layer,
    label: info.name,
    dispatches: program.dispatches.slice(next, (next += info.dispatches))
  }));
  return passes.filter(pass => pass.dispatches.length > 0);
}

function encodePass(
  encoder: GPUCommandEncoder,
  label: string,
  dispatches: readonly BoundDispatch[],
  timestampWrites: GPUComputePassTimestampWrites | undefined
): void {
  const pass = encoder.beginComputePass({ label, timestampWrites });
  dispatches.forEach(dispatch => encodeDispatch(pass, dispatch));
  pass.end();
}

// --- Recording ------------------------------------------------------------------------------

/** Who watches an engine being recorded: progress per layer, and a signal to stop it. */
export type RecordingObserver = Pick<BuildOptions, 'signal' | 'onProgress'>;

/**
 * Plans the graph's memory, uploads its weights, and runs every node's kernel once with a
 * context that records its dispatches bound to the planned memory.
 */
async function recordProgram(
  graph: Graph,
  config: BuilderConfig,
  device: GPUDevice,
  tactics: TacticSelection,
  { signal, onProgress }: RecordingObserver
): Promise<Program> {
  const prepared = prepareNodes(graph);
  const report = (layersDone: number, layer?: string) =>
    onProgress?.({ layersDone, totalLayers: prepared.length, layer });
  prepared.forEach(step => checkRunsOnGpu(step, graph));
  const storageOf = storagePlan(graph, prepared, config, device);
  const { memory, readOnlyInputs } = planArenas(
    graph,
    prepared,
    device.limits.minStorageBufferOffsetAlignment,
    storageOf
  );
  const buffers: GPUBuffer[] = [];
  const errors = new PendingErrors();
  try {
    const arenas = memory.arenas.map((plan, i) => {
      const arena = device.createBuffer({
        label: `${graph.name} arena ${i}`,
        size: Math.max(MIN_BUFFER_BYTES, plan.arenaBytes),
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC
      });
      buffers.push(arena);
      return arena;
    });
    const values = new DeviceValues(graph, device, arenas, memory, buffers, storageOf);
    const pipelines = new PipelineCache(device);
    const dispatches: BoundDispatch[] = [];
    const layers: LayerInfo[] = [];
    let workspaceBytes = 0;
    const tuner = new LayerTuner(device, pipelines, config, tactics);
    report(0);
    for (const [index, step] of prepared.entries()) {
      if (signal) {
        // Recording an untuned layer awaits nothing: yielding lets an abort (and a page's
        // repaint of the progress) come in between layers.
        await new Promise(resolve => setTimeout(resolve, 0));
        signal.throwIfAborted();
      }
      device.pushErrorScope('validation');
      device.pushErrorScope('out-of-memory');
      try {
        const inputs = gpuInputsOf(step, values);
        const chosen = await tuner.record(step, inputs, tactic =>
          recordNode(step, graph, values, inputs, device, tactic, !readOnlyInputs.has(step.node))
        );
        buffers.push(...chosen.scratch);
        workspaceBytes += chosen.scratch.reduce((sum, b) => sum + b.size, 0);
        dispatches.push(...chosen.bound);
        layers.push({ ...layerInfo(step.node, graph, chosen.dispatches), ...chosen.tuning });
      } finally {
        errors.watch(step.node, device.popErrorScope(), device.popErrorScope());
      }
      report(index + 1, step.node.name);
    }
    await errors.check();
    if (config.maxWorkspaceBytes !== undefined && workspaceBytes > config.maxWorkspaceBytes) {
      throw new Error(
        `the kernels need ${workspaceBytes} bytes of workspace, more than maxWorkspaceBytes ${config.maxWorkspaceBytes}`
      );
    }
    const outputs = new Map(graph.outputs.map(o => [o.name, values.output(o.name)]));
    return { dispatches, inputs: values.inputs, outputs, buffers, layers, memory };
  } catch (error) {
    for (const buffer of buffers) {
      buffer.destroy();
    }
    throw error;
  }
}

/** How the engine stores each element type: f16 for float16, or the 32-bit default. */
type StoragePlan = (dtype: DataType) => GpuTensor['storage'];

/**
 * float16 tensors are stored as f16 in an engine built for FP16 on a device with
 * 'shader-f16', when every kernel that reads or writes one on the device declares
 * `halfStorage` (a float16 model may have layers that do not); as f32 otherwise, where
 * FP16 layers still round what they store to float16.
 */
function storagePlan(
  graph: Graph,
  prepared: readonly PreparedNode[],
  config: BuilderConfig,
  device: GPUDevice
): StoragePlan {
  const builtForHalf =
    config.precision !== 'fp32' || Object.values(config.layerPrecisions ?? {}).includes('fp16');
  const isHalf = (name: string) =>
    (graph.initializers.get(name) ?? graph.valueTypes.get(name))?.dtype === 'float16';
  const touchesHalf = ({ node, hostInputs }: PreparedNode) =>
    node.inputs.some((name, i) => name && !hostInputs.includes(i) && isHalf(name)) ||
    node.outputs.some(name => name && isHalf(name));
  const f16 =
    builtForHalf &&
    device.features.has('shader-f16') &&
    prepared.every(step => step.op.webgpu?.halfStorage || !touchesHalf(step));
  return dtype => (f16 && dtype === 'float16' ? 'f16' : undefined);
}

/** The arenas of an engine, and the nodes whose kernels keep read-only input bindings. */
interface ArenaPlan {
  memory: EngineMemory;
  readOnlyInputs: ReadonlySet<Node>;
}

/**
 * Plans the intermediate tensors into arenas, each tensor by the bytes of its storage.
 * WebGPU validates buffer usage per buffer, not per range: a dispatch may not bind one
 * buffer both read-only and writable, while it may bind disjoint ranges of one buffer as
 * writable any number of times. So the engine binds every tensor of a dispatch as writable
 * storage (see `writableBindings`), and all tensors share arena 0, planned by liveness: a
 * layer's inputs and outputs are alive together, so they never overlap. The exception is a
 * node whose inputs may overlap one another (one value read twice, a value and a view of
 * it, or a kernel that binds an input twice): writable bindings must not overlap, so its
 * inputs stay read-only and its outputs go
 * to the lowest-numbered arena that none of its inputs, nor its earlier outputs, lie in.
 * A view goes where the tensor it views is.
 */
function planArenas(
  graph: Graph,
  prepared: readonly PreparedNode[],
  alignment: number,
  storageOf: StoragePlan
): ArenaPlan {
  const all = lifetimes(graph, ({ dtype, shape }) =>
    storageBytes({ dtype, storage: storageOf(dtype), size: sizeOf(shape) })
  );
  const arenaOf = new Map<string, number>();
  const byOutput = new Map(all.map(t => [t.name, t]));
  const rootOf = (name: string): string => {
    const viewed = byOutput.get(name)?.aliasOf;
    return viewed === undefined ? name : rootOf(viewed);
  };
  const readOnlyInputs = new Set<Node>();
  for (const { node, op } of prepared) {
    const roots = node.inputs.filter(name => name).map(rootOf);
    const overlapping = new Set(roots).size < roots.length || op.webgpu!.bindsInputTwice === true;
    if (overlapping) {
      readOnlyInputs.add(node);
    }
    const taken = new Set<number>();
    for (const name of overlapping ? node.inputs : []) {
      const arena = arenaOf.get(name);
      if (arena !== undefined) {
        taken.add(arena);
      }
    }
    for (const name of node.outputs) {
      const tensor = byOutput.get(name);
      if (!tensor) {
        continue;
      }
      if (tensor.aliasOf !== undefined) {
        arenaOf.set(name, arenaOf.get(tensor.aliasOf)!);
        continue;
      }
      let arena = 0;
      while (taken.has(arena)) {
        arena++;
      }
      arenaOf.set(name, arena);
      if (overlapping) {
        taken.add(arena);
      }
    }
  }
  const members: TensorLifetime[][] = [];
  for (const tensor of all) {
    (members[arenaOf.get(tensor.name)!] ??= []).push(tensor);
  }
  const arenas = [...members].map(tensors => planMemory(tensors ?? [], { alignment }));
  const memory = {
    arenaBytes: arenas.reduce((sum, plan) => sum + plan.arenaBytes, 0),
    sumBytes: arenas.reduce((sum, plan) => sum + plan.sumBytes, 0),
    peakLiveBytes: planMemory(all, { alignment }).peakLiveBytes,
    arenas
  };
  return { memory, readOnlyInputs };
}

/**
 * `code` with its read-only storage bindings made writable (see planArenas): the shader
 * still only reads them.
 */
function writableBindings(code: string): string {
  return code.replace(/var<storage,\s*read>/g, 'var<storage, read_write>');
}

/** Throws, naming the node, when the engine cannot run it with its WebGPU kernel. */
function checkRunsOnGpu(step: PreparedNode, graph: Graph): void {
  const fail = (reason: string) =>
    new OpError(step.node, `the engine cannot run it: ${reason} (no CPU fallback yet)`);
  const kernel = step.op.webgpu;
  if (!kernel) {
    throw fail('its op has no WebGPU kernel');
  }
  const dtypes = step.node.inputs.map((name, i) => {
    if (!name) {
      return undefined;
    }
    if (step.hostInputs.includes(i)) {
      if (!graph.initializers.has(name)) {
        throw fail(`input ${i} ('${name}') must be known on the host, and is not a constant`);
      }
      return undefined;
    }
    const type = graph.initializers.get(name) ?? graph.valueTypes.get(name);
    if (!type) {
      throw fail(`input '${name}' has no inferred type`);
    }
    return type.dtype;
  });
  const declined = kernelDeclines(kernel, dtypes, step.attrs);
  if (declined) {
    throw fail(`its WebGPU kernel declines its inputs: ${declined}`);
  }
}

interface RecordedNode {
  /** Bound to the planned memory. */
  dispatches: Dispatch[];
  /** Kernel-internal tensors that are no node output (Resize's sample table): kept. */
  scratch: GPUBuffer[];
}

/**
 * Runs one node's kernel. Its allocations get buffers of their own while it runs; those it
 * returns as node outputs then move to their planned arena slices (their buffers are
 * dropped, and every binding to them rebound), and the rest stay as scratch. Data a kernel
 * writes from the host (queue.writeBuffer) thus persists in scratch tensors only.
 */
/** The inputs a node's kernel reads on the GPU, where they lie (host inputs undefined). */
function gpuInputsOf(step: PreparedNode, values: DeviceValues): (GpuTensor | undefined)[] {
  return step.node.inputs.map((name, i) =>
    name && !step.hostInputs.includes(i) ? values.read(name) : undefined
  );
}

function recordNode(
  step: PreparedNode,
  graph: Graph,
  values: DeviceValues,
  gpuInputs: (GpuTensor | undefined)[],
  device: GPUDevice,
  tactic: string | undefined,
  writableInputs: boolean
): RecordedNode {
  const { node } = step;
  const allocations = new Set<GPUBuffer>();
  const dispatches: Dispatch[] = [];
  const context: KernelContext = {
    device,
    node,
    tactic,
    allocate: (dtype, shape) => {
      const tensor = { dtype, shape, size: sizeOf(shape), storage: values.storageOf(dtype) };
      const buffer = createTensorBuffer(device, tensor, `${node.name} scratch`);
      allocations.add(buffer);
      return { ...tensor, buffer };
    },
    view: (tensor, shape, dtype) => viewOf(node, tensor, shape, dtype),
    dispatch: dispatch =>
      dispatches.push(
        writableInputs ? { ...dispatch, code: writableBindings(dispatch.code) } : dispatch
      )
  };
  const hostInputs = node.inputs.map((name, i) =>
    name && step.hostInputs.includes(i) ? graph.initializers.get(name) : undefined
  );
  let outputs: GpuTensor[];
  try {
    outputs = step.op.webgpu!.run(context, gpuInputs, hostInputs, step.attrs);
    checkOutputCount(step, outputs.length);
  } catch (error) {
    allocations.forEach(buffer => buffer.destroy());
    throw error instanceof OpError ? error : new OpError(node, (error as Error).message);
  }

  const moved = new Map<GPUBuffer, GpuTensor>();
  node.outputs.forEach((name, i) => {
    if (!name) {
      return;
    }
    const output = outputs[i];
    if (allocations.has(output.buffer) && !moved.has(output.buffer)) {
      const slice = values.writeTarget(node, name);
      moved.set(output.buffer, slice);
      values.set(name, rebind(output, moved));
    } else {
      values.setView(node, name, rebind(output, moved));
    }
  });
  for (const buffer of moved.keys()) {
    allocations.delete(buffer);
    buffer.destroy();
  }
  return {
    dispatches: dispatches.map(d => ({ ...d, bindings: d.bindings.map(t => rebind(t, moved)) })),
    scratch: [...allocations]
  };
}

/** `tensor` in its planned slice when it lies in an allocation that moved there. */
function rebind(tensor: GpuTensor, moved: ReadonlyMap<GPUBuffer, GpuTensor>): GpuTensor {
  const target = moved.get(tensor.buffer);
  if (!target) {
    return tensor;
  }
  const offset = (target.offset ?? 0) + (tensor.offset ?? 0);
  return { ...tensor, buffer: target.buffer, offset };
}

/**
 * Where every value the kernels read lies: graph inputs in buffers of their own, weights
 * uploaded on first use, and node outputs in their planned arena slices.
 */
class DeviceValues {
  readonly inputs = new Map<string, GpuTensor>();
  private readonly located = new Map<string, GpuTensor>();
  /** Each arena tensor's plan and the arena it lies in. */
  private readonly planned = new Map<string, { plan: PlannedTensor; arena: GPUBuffer }>();

  constructor(
    private readonly graph: Graph,
    private readonly device: GPUDevice,
    private readonly arenas: GPUBuffer[],
    memory: EngineMemory,
    private readonly buffers: GPUBuffer[],
    readonly storageOf: StoragePlan
  ) {
    memory.arenas.forEach((arenaPlan, i) => {
      for (const plan of arenaPlan.tensors) {
        this.planned.set(plan.name, { plan, arena: arenas[i] });
      }
    });
    for (const input of graph.inputs) {
      const shape = input.shape as number[];
      const stored = {
        dtype: input.dtype,
        shape,
        size: sizeOf(shape),
        storage: storageOf(input.dtype)
      };
      const tensor = { ...stored, buffer: createTensorBuffer(device, stored, input.name) };
      buffers.push(tensor.buffer);
      this.inputs.set(input.name, tensor);
      this.located.set(input.name, tensor);
    }
  }

  read(name: string): GpuTensor {
    const value = this.located.get(name);
    if (value) {
      return value;
    }
    const weight = this.graph.initializers.get(name);
    if (!weight) {
      throw new Error(`value '${name}' is read before any node produces it`);
    }
    const uploaded = upload(this.device, weight, name, this.storageOf(weight.dtype));
    this.buffers.push(uploaded.buffer);
    this.located.set(name, uploaded);
    return uploaded;
  }

  /** A graph output: on the GPU, or the constant itself when passes folded it. */
  output(name: string): GpuTensor | Tensor {
    const value = this.located.get(name) ?? this.graph.initializers.get(name);
    if (!value) {
      throw new Error(`graph output '${name}' is not produced by any node`);
    }
    return value;
  }

  set(name: string, tensor: GpuTensor): void {
    this.located.set(name, tensor);
  }

  /** The arena slice a node writes its output `name` to. */
  writeTarget(node: Node, name: string): GpuTensor {
    const { plan, arena } = this.planned.get(name)!;
    if (plan.aliasOf !== undefined) {
      throw new OpError(
        node,
        `its kernel writes '${name}', which the memory plan made a view of '${plan.aliasOf}'`
      );
    }
    const { dtype, shape } = this.graph.valueTypes.get(name)!;
    const concrete = shape as number[];
    return {
      dtype,
      shape: concrete,
      size: sizeOf(concrete),
      buffer: arena,
      offset: plan.offset,
      storage: this.storageOf(dtype)
    };
  }

  /**
   * Records an output the kernel returned as a view of memory it did not allocate. A view
   * into the arena must be one the memory plan foresaw (else the viewed tensor's bytes could
   * be reused while it is read); inputs and weights are never overwritten, so any view of
   * them is safe.
   */
  setView(node: Node, name: string, view: GpuTensor): void {
    const { plan, arena } = this.planned.get(name)!;
    const foreseen =
      plan.aliasOf !== undefined && view.buffer === arena && (view.offset ?? 0) === plan.offset;
    if (this.arenas.includes(view.buffer) && !foreseen) {
      throw new OpError(
        node,
        `its kernel returns '${name}' as a view of another tensor, which the memory plan gave memory of its own`
      );
    }
    this.located.set(name, view);
  }
}

function layerInfo(node: Node, graph: Graph, dispatches: readonly Dispatch[]): LayerInfo {
  const info = (name: string): TensorInfo => {
    const type = graph.initializers.get(name) ?? graph.valueTypes.get(name)!;
    return { name, dtype: type.dtype, shape: [...(type.shape as number[])] };
  };
  const outputs = node.outputs.filter(name => name).map(info);
  return {
    name: node.name,
    opType: node.opType,
    fusedNodes: node.fusedFrom ?? [node.name],
    precision: isInt8Layer(node)
      ? 'int8'
      : outputs.some(output => output.dtype === 'float16')
        ? 'fp16'
        : 'fp32',
    inputs: node.inputs.filter(name => name).map(info),
    outputs,
    dispatches: dispatches.length,
    kernels: [...new Set(dispatches.map(dispatch => dispatch.label))]
  };
}

// --- Plan files ------------------------------------------------------------------------------

/** The plan's metadata: everything but the weights, which are its blobs. */
interface StoredEngine extends PlanContents {
  config: BuilderConfig;
  fingerprint: AdapterFingerprint;
  buildReport: BuildReport;
  graph: StoredGraph;
  /** For tools that inspect a plan; a loaded engine reports the layers it records again. */
  layers: LayerInfo[];
}
