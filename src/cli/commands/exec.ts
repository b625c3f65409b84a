import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  booleanFlag,
  integerFlag,
  numberFlag,
  positionalArgs,
  stringFlag,
  stringListFlag
} from '../args';
import {
  BUILDER_HELP,
  BUILDER_OPTIONS,
  BuilderFlags,
  givenBuildFlag,
  parseBuilderFlags
} from '../builder-flags';
import { Command } from '../command';
import {
  computedByOneEngine,
  ComputeTimes,
  conversionReport,
  counted,
  ConversionReportOptions,
  ConvertedModel,
  describeAdapter,
  Engine,
  EngineCacheStats,
  engineReport,
  EngineReportOptions,
  field,
  formatMs,
  formatValue,
  Graph,
  latencySummary,
  NativeExecutor,
  PhaseTimes,
  planKind,
  prepareNodes,
  profileReport,
  ProfileReport,
  profileTrace,
  reportText,
  Tensor,
  TimedExecution
} from '../engine';
import { UsageError } from '../errors';
import { readBytes, writeBytes } from '../files';
import { requestNodeDevice } from '../gpu';
import { parseLoadInputsFlags, prepareInputs } from '../inputs';
import { loadModel } from '../model';
import { buildConverted, buildEngine, checkShapesGiven, destroyConverted } from './build';

const MS_PER_SECOND = 1000;

export const execCommand: Command = {
  name: 'exec',
  summary: 'time a model end to end, as trtexec does: throughput and latency percentiles',
  help: `Usage: webtrt exec (--onnx model.onnx | --loadEngine model.wtrt) [options]

Builds an engine from the model (or loads a plan that webtrt build wrote), runs it for
the warm-up time, then times end-to-end executions (random host inputs written, every
layer run, the outputs read back) and prints the performance summary as trtexec does:
throughput and latency min / max / mean / median / percentiles. Then it times as many
executions again phase by phase, each phase awaited before the next starts (which would
slow the end-to-end executions), for trtexec's H2D Latency and D2H Latency; and as many
compute passes run back to back after the warm-up time of them untimed, as the GPU runs
inferences that follow one another, for its GPU Compute Time (GPU timestamps around each
pass where the device has them).

A model that one engine cannot compute whole (see --denyOps) is converted as webtrt
build converts it, and a plan of a converted model loads as one: its runs go through
the engine caches of its segments, whose hits, misses, evictions and build times are
printed after the summary. Its tensors cross between the GPU and the host at segment
borders, so its phases are not timed apart, and it has no per-layer profile.

Options:
  --onnx model.onnx           build the engine from this model, as the flags below say
  --loadEngine model.wtrt     load this plan instead: it keeps the shapes and precision
                              it was built with (--shapes may repeat them)
${BUILDER_HELP}
  --loadInputs name:x.npy     an input's values, comma separated or repeated (.npy);
                              inputs not given get random values as in webtrt run
  --native                    time the op-by-op executor (no engine) on --onnx, the
                              baseline the engine is measured against
  --iterations N              time at least N executions (default 50)
  --warmUp ms                 run this long before timing (default 200)
  --duration s                time for at least this many seconds as well
  --exportTimes f.json        write the times in ms: the first run's, the build's or
                              load's, each timed execution's start and latency, each
                              phase-timed execution's start, H2D, compute and D2H, and
                              the back-to-back compute times
  --dumpProfile               after the summary, profile the engine's layers over
                              --iterations runs (each layer a compute pass of its own,
                              timed with GPU timestamps where the device has them) and
                              print trtexec's per-layer table
  --exportProfile f.json      write that profile as a Chrome trace (Perfetto): the last
                              iteration's layers laid end to end, with each layer's
                              average in the metadata
  -h, --help                  show this help`,
  options: {
    onnx: { type: 'string' },
    loadEngine: { type: 'string' },
    ...BUILDER_OPTIONS,
    loadInputs: { type: 'string', multiple: true },
    native: { type: 'boolean' },
    iterations: { type: 'string' },
    warmUp: { type: 'string' },
    duration: { type: 'string' },
    exportTimes: { type: 'string' },
    dumpProfile: { type: 'boolean' },
    exportProfile: { type: 'string' }
  },
  async run(args) {
    positionalArgs(args, []);
    const source = executionSource(args.values.onnx, args.values.loadEngine, args.command);
    const native = booleanFlag(args, 'native');
    if (native && source.kind === 'plan') {
      throw new UsageError('--native runs the ONNX model op by op: give --onnx', args.command);
    }
    const buildFlag = givenBuildFlag(args);
    if (buildFlag && (native || source.kind === 'plan')) {
      throw new UsageError(
        native
          ? `${buildFlag} configures an engine's build: not with --native`
          : `${buildFlag} configures a build: a loaded plan keeps the configuration it was built with`,
        args.command
      );
    }
    const timing: TimingOptions = {
      iterations: integerFlag(args, 'iterations', 1) ?? 50,
      warmUpMs: integerFlag(args, 'warmUp', 0) ?? 200,
      durationMs: (numberFlag(args, 'duration', [0, 86400]) ?? 0) * MS_PER_SECOND
    };
    const flags = parseBuilderFlags(args);
    const inputs: InputSources = {
      shapes: flags.shapes,
      files: parseLoadInputsFlags(stringListFlag(args, 'loadInputs'), args.command)
    };
    const timesPath = stringFlag(args, 'exportTimes');
    const dumpProfile = booleanFlag(args, 'dumpProfile');
    const profilePath = stringFlag(args, 'exportProfile');
    if (native && (dumpProfile || profilePath !== undefined)) {
      throw new UsageError(
        "--dumpProfile and --exportProfile time an engine's layers: not with --native",
        args.command
      );
    }

    const profiling = dumpProfile || profilePath !== undefined;
    const target = native
      ? await nativeTarget(source.path, inputs)
      : await compiledTarget(source, flags, inputs, profiling);
    try {
      const print = (...lines: string[]) => process.stdout.write(`${lines.join('\n')}\n`);
      print(...target.lines);
      const run = await timeExecutions(target.execute, timing);
      const phases =
        'executeTimed' in target.phases
          ? await timePhases(target.phases, run.samples.length, timing.warmUpMs)
          : target.phases;
      print(
        field(
          'warm-up',
          `${run.warmUpRuns} run${run.warmUpRuns === 1 ? '' : 's'} in ${formatMs(run.warmUpMs)}`
        ),
        ...performanceSummary(run, phases, target.setup),
        ...(target.afterRuns?.() ?? [])
      );
      if (timesPath) {
        const times = exportedTimes(run, phases, target.setup);
        writeBytes(timesPath, `${JSON.stringify(times, null, 2)}\n`);
      }
      if (profiling && target.profile) {
        const profile = await target.profile(timing.iterations);
        if (profilePath !== undefined) {
          const trace = profileTrace(profile, basename(source.path));
          writeBytes(profilePath, `${JSON.stringify(trace, null, 2)}\n`);
        }
        if (dumpProfile) {
          const written = profilePath === undefined ? {} : { trace: profilePath };
          print('', reportText({ ...profile, ...written }));
        }
      }
    } finally {
      target.release();
    }
  }
};

type ExecutionSource = { kind: 'onnx' | 'plan'; path: string };

function executionSource(onnx: unknown, plan: unknown, command: string): ExecutionSource {
  if (typeof onnx === 'string' && typeof plan === 'string') {
    throw new UsageError('give --onnx or --loadEngine, not both', command);
  }
  if (typeof onnx === 'string') {
    return { kind: 'onnx', path: onnx };
  }
  if (typeof plan === 'string') {
    return { kind: 'plan', path: plan };
  }
  throw new UsageError(
    'missing the model: give --onnx model.onnx or --loadEngine model.wtrt',
    command
  );
}

/** What is timed: one end-to-end execution on fixed random inputs, on its own device. */
interface Target {
  /** What was set up, printed before timing starts. */
  lines: string[];
  /** Building or loading the engine ("build time", ms); none for the native executor. */
  setup?: Setup;
  execute(): Promise<unknown>;
  /** Phase and compute timing (engines only), or why phases are not timed apart. */
  phases: PhaseTiming | NotTimed;
  /** Per-layer times over `iterations` runs; engines only. */
  profile?(iterations: number): Promise<ProfileReport>;
  /** Lines printed after the performance summary. */
  afterRuns?(): string[];
  /** Releases its device. */
  release(): void;
}

interface NotTimed {
  notTimed: string;
}

interface Setup {
  label: 'Build time' | 'Load time';
  ms: number;
}

/**
 * An engine, or a converted model when one engine cannot compute the model whole, built
 * from the ONNX model or loaded from a plan. Profiling a converted model is refused before
 * anything is built.
 */
async function compiledTarget(
  source: ExecutionSource,
  flags: BuilderFlags,
  inputs: InputSources,
  profiling: boolean
): Promise<Target> {
  const started = performance.now();
  const setup = (label: Setup['label']): Setup => ({ label, ms: performance.now() - started });
  if (source.kind === 'onnx') {
    const model = loadModel(source.path);
    if (computedByOneEngine(model.graph, flags.conversion)) {
      const engine = await buildEngine(model, flags, 'exec');
      return engineTarget(engine, source.path, { graph: model.graph }, inputs, setup('Build time'));
    }
    refuseProfile(profiling, `${source.path} converts into engines and CPU fallback`);
    const converted = await buildConverted(model, flags, 'exec');
    return convertedTarget(converted, source.path, {}, inputs, setup('Build time'));
  }
  const plan = readBytes(source.path);
  const origin = { plan: { path: source.path, bytes: plan.byteLength } };
  const kind = await fromPlan(source.path, () => planKind(plan));
  if (kind === 'converted') {
    refuseProfile(profiling, `${source.path} is the plan of a converted model`);
  }
  const device = await requestNodeDevice();
  try {
    if (kind === 'converted') {
      const converted = await fromPlan(source.path, () => ConvertedModel.deserialize(plan, device));
      const loaded = { ...inputs, shapes: new Map([...builtShapes(converted), ...inputs.shapes]) };
      return convertedTarget(converted, source.path, origin, loaded, setup('Load time'));
    }
    const engine = await fromPlan(source.path, () => Engine.deserialize(plan, device));
    return engineTarget(engine, source.path, origin, inputs, setup('Load time'));
  } catch (error) {
    device.destroy();
    throw error;
  }
}

/** Reads a plan, naming its file in the error. */
async function fromPlan<T>(path: string, read: () => T | Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
}

function refuseProfile(profiling: boolean, what: string): void {
  if (profiling) {
    throw new UsageError(
      `--dumpProfile and --exportProfile time the layers of one engine, which is not available for converted models: ${what}`,
      'exec'
    );
  }
}

function engineTarget(
  engine: Engine,
  source: string,
  origin: EngineReportOptions,
  inputs: InputSources,
  setup: Setup
): Target {
  try {
    const { feeds, sources } = prepareFeeds(engine.graph, inputs);
    const context = engine.createContext();
    return {
      lines: [reportText(engineReport(engine, source, origin)), sources],
      setup,
      execute: () => context.execute(feeds),
      phases: {
        executeTimed: () => context.executeTimed(feeds),
        timeCompute: (count, warmUpMs) => context.timeCompute(feeds, count, warmUpMs)
      },
      profile: async iterations =>
        profileReport(engine, await context.profile(feeds, iterations), source),
      release: () => engine.device.destroy()
    };
  } catch (error) {
    engine.device.destroy();
    throw error;
  }
}

function convertedTarget(
  converted: ConvertedModel,
  source: string,
  origin: ConversionReportOptions,
  inputs: InputSources,
  setup: Setup
): Target {
  try {
    const { feeds, sources } = prepareFeeds(converted.graph, inputs);
    return {
      lines: [reportText(conversionReport(converted, source, origin)), sources],
      setup,
      execute: () => converted.run(feeds),
      phases: {
        notTimed:
          'H2D, GPU compute and D2H are not timed apart for a converted model: its tensors ' +
          'cross between the GPU and the host at segment borders.'
      },
      afterRuns: () => [
        '=== Engine caches ===',
        ...converted.engineSegments.map(segment =>
          cacheLine(segment.id, converted.cache(segment.id).stats())
        )
      ],
      release: () => destroyConverted(converted)
    };
  } catch (error) {
    destroyConverted(converted);
    throw error;
  }
}

/**
 * The shapes a converted model's plan was built for, by graph input: its profile's opt
 * shapes, else the shapes its cached engines were built for where they read graph inputs.
 */
function builtShapes(converted: ConvertedModel): Map<string, number[]> {
  const inputs = new Set(converted.graph.inputs.map(input => input.name));
  const shapes = new Map<string, number[]>();
  for (const segment of converted.engineSegments) {
    for (const { key } of converted.cache(segment.id).cached) {
      Object.entries(key.shapes)
        .filter(([name]) => inputs.has(name) && !shapes.has(name))
        .forEach(([name, shape]) => shapes.set(name, shape));
    }
  }
  Object.entries(converted.params.profile ?? {}).forEach(([name, { opt }]) =>
    shapes.set(name, opt)
  );
  return shapes;
}

/** One segment's engine cache after the runs: "engine 0: 1 engine of 1, 57 hits, ...". */
function cacheLine(segment: string, stats: EngineCacheStats): string {
  return (
    `${segment}: ${counted(stats.entries.length, 'engine')} of ${stats.capacity}, ` +
    `${counted(stats.hits, 'hit')}, ${counted(stats.misses, 'miss', 'misses')}, ` +
    `${counted(stats.evictions, 'eviction')}, ${counted(stats.builds, 'build')} in ${formatValue(stats.buildTimeMs)} ms`
  );
}

async function nativeTarget(path: string, inputs: InputSources): Promise<Target> {
  const model = loadModel(path);
  // Unsupported ops and bad inputs fail before a GPU device is set up.
  prepareNodes(model.graph);
  checkShapesGiven(model.graph, inputs.shapes, 'exec');
  const { feeds, sources } = prepareFeeds(model.graph, inputs);
  const device = await requestNodeDevice();
  const executor = new NativeExecutor(device);
  return {
    lines: [
      field(
        'model',
        `${path}: ${model.graph.nodes.length} ONNX nodes, imported in ${formatMs(model.importMs)}`
      ),
      field('device', describeAdapter(device.adapterInfo)),
      field('executor', 'native: one kernel per ONNX node, ops without a kernel on the CPU'),
      sources
    ],
    execute: () => executor.run(model.graph, feeds),
    phases: {
      notTimed:
        'H2D, GPU compute and D2H are not timed apart for the native executor: it writes and ' +
        'reads tensors between its layers.'
    },
    release: () => device.destroy()
  };
}

/** Where the inputs come from: --loadInputs files, random values of the --shapes. */
interface InputSources {
  shapes: ReadonlyMap<string, number[]>;
  files: ReadonlyMap<string, string>;
}

/** The feeds of every execution, and a report line of where they came from. */
function prepareFeeds(
  graph: Graph,
  inputs: InputSources
): { feeds: Record<string, Tensor>; sources: string } {
  const prepared = prepareInputs(graph, {
    files: new Map(inputs.files),
    shapes: new Map(inputs.shapes),
    seed: 0
  });
  return {
    feeds: Object.fromEntries([...prepared].map(([name, input]) => [name, input.tensor])),
    sources: field(
      'inputs',
      [...prepared].map(([name, { source }]) => `${name} ${source}`).join(', ')
    )
  };
}

interface TimingOptions {
  iterations: number;
  warmUpMs: number;
  durationMs: number;
}

/** One timed execution, as --exportTimes writes it. */
export interface Sample {
  /** From the start of the first timed execution. */
  startMs: number;
  latencyMs: number;
}

interface TimedRun {
  /** The very first execution (pipelines compile, buffers are first touched). */
  firstRunMs: number;
  warmUpRuns: number;
  warmUpMs: number;
  samples: Sample[];
  /** From the start of the first timed execution to the end of the last. */
  walltimeMs: number;
}

/**
 * Runs `execute` for the warm-up time (once at least: the first run is reported on its
 * own), then times executions back to back until both the iteration count and the duration
 * are reached, as trtexec's --iterations and --duration do.
 */
async function timeExecutions(
  execute: () => Promise<unknown>,
  options: TimingOptions
): Promise<TimedRun> {
  const warmUpStart = performance.now();
  await execute();
  const firstRunMs = performance.now() - warmUpStart;
  let warmUpRuns = 1;
  while (performance.now() - warmUpStart < options.warmUpMs) {
    await execute();
    warmUpRuns++;
  }
  const timedStart = performance.now();
  const samples: Sample[] = [];
  let now = timedStart;
  while (samples.length < options.iterations || now - timedStart < options.durationMs) {
    const begin = now;
    await execute();
    now = performance.now();
    samples.push({ startMs: begin - timedStart, latencyMs: now - begin });
  }
  return {
    firstRunMs,
    warmUpRuns,
    warmUpMs: timedStart - warmUpStart,
    samples,
    walltimeMs: now - timedStart
  };
}

/** One execution timed phase by phase, as --exportTimes writes it. */
export interface PhaseSample extends PhaseTimes {
  /** From the start of the first phase-timed execution. */
  startMs: number;
}

/** An engine's executions timed phase by phase, and its compute passes run back to back. */
interface PhaseTiming {
  executeTimed(): Promise<TimedExecution>;
  timeCompute(count: number, warmUpMs: number): Promise<ComputeTimes>;
}

export interface PhaseRun {
  /** Each phase awaited before the next: H2D and D2H Latency. */
  executions: PhaseSample[];
  /** Compute passes back to back: GPU Compute Time. */
  compute: ComputeTimes;
}

/**
 * Times `count` executions phase by phase, then `count` compute passes back to back after
 * `warmUpMs` of them untimed (the phases' waits let the GPU lower its clocks).
 */
async function timePhases(timing: PhaseTiming, count: number, warmUpMs: number): Promise<PhaseRun> {
  const started = performance.now();
  const executions: PhaseSample[] = [];
  for (let i = 0; i < count; i++) {
    const begin = performance.now();
    const { times } = await timing.executeTimed();
    executions.push({ startMs: begin - started, ...times });
  }
  return { executions, compute: await timing.timeCompute(count, warmUpMs) };
}

/**
 * trtexec's "Performance summary", its numbers in at most 6 significant digits; the phases
 * where they were timed.
 */
function performanceSummary(
  run: TimedRun,
  phases: PhaseRun | NotTimed,
  setup: Target['setup']
): string[] {
  const throughput = (run.samples.length / run.walltimeMs) * MS_PER_SECOND;
  return [
    '=== Performance summary ===',
    `Throughput: ${formatValue(throughput)} qps`,
    statistics(
      'Latency',
      run.samples.map(sample => sample.latencyMs)
    ),
    ...('executions' in phases
      ? [
          statistics(
            'H2D Latency',
            phases.executions.map(execution => execution.h2dMs)
          ),
          statistics('GPU Compute Time', phases.compute.timesMs),
          statistics(
            'D2H Latency',
            phases.executions.map(execution => execution.d2hMs)
          )
        ]
      : []),
    ...(setup ? [`${setup.label}: ${formatValue(setup.ms)} ms`] : []),
    `First run: ${formatValue(run.firstRunMs)} ms`,
    `Total Host Walltime: ${formatValue(run.walltimeMs / MS_PER_SECOND)} s (${run.samples.length} executions)`,
    'Latency is end to end: host inputs written, every layer run, outputs read back.',
    ...('executions' in phases
      ? [
          `H2D and D2H: ${phases.executions.length} more executions, each phase awaited before the next.`,
          `GPU compute: ${phases.compute.timesMs.length} more compute passes after the ` +
            `warm-up time of untimed ones, ${COMPUTE_CLOCKS[phases.compute.clock]}.`
        ]
      : [phases.notTimed])
  ];
}

/** "Latency: min = 1 ms, max = ..., percentile(99%) = 3 ms", as trtexec prints its statistics. */
function statistics(label: string, samplesMs: readonly number[]): string {
  const summary = latencySummary(samplesMs);
  const ms = (value: number) => `${formatValue(value)} ms`;
  return (
    `${label}: min = ${ms(summary.min)}, max = ${ms(summary.max)}, mean = ${ms(summary.mean)}, ` +
    `median = ${ms(summary.median)}, percentile(90%) = ${ms(summary.p90)}, ` +
    `percentile(95%) = ${ms(summary.p95)}, percentile(99%) = ${ms(summary.p99)}`
  );
}

const COMPUTE_CLOCKS: Record<ComputeTimes['clock'], string> = {
  gpu: 'run back to back, timed by GPU timestamps around each',
  'wall-clock':
    "each timed on the wall clock from its submit until the queue finished (the device has no 'timestamp-query')"
};

/** What --exportTimes writes (all times in ms). */
export interface ExportedTimes {
  /** Building or loading the engine, when exec did either. */
  setup?: { label: string; ms: number };
  firstRunMs: number;
  /** The end-to-end executions: the summary's Latency. */
  executions: Sample[];
  /** The executions timed phase by phase, and the back-to-back compute passes (engines only). */
  phases?: PhaseRun;
}

function exportedTimes(
  run: TimedRun,
  phases: PhaseRun | NotTimed,
  setup: Target['setup']
): ExportedTimes {
  return {
    ...(setup && { setup }),
    firstRunMs: run.firstRunMs,
    executions: run.samples,
    ...('executions' in phases && { phases })
  };
}
