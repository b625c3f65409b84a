/**
 * The builder's flags, which `webtrt build` and `webtrt exec --onnx` share as trtexec's
 * build and exec share them: precision, shapes and an optimization profile, memory pools,
 * per-layer precisions, and TF-TRT's conversion parameters (how a model with ops an engine
 * cannot run splits into engines and fallback). Parsed into a BuilderConfig and the
 * conversion's options; every mistake is a UsageError that names the flag.
 */
import { readFileSync } from 'node:fs';
import { integerFlag, OptionSpecs, ParsedArgs, stringListFlag } from './args';
import {
  BuilderConfig,
  MAX_OPTIMIZATION_LEVEL,
  OptimizationProfile,
  Precision,
  readCalibrationCache,
  SegmentOptions
} from './engine';
import { UsageError } from './errors';
import { parseShapeFlags } from './inputs';

type LayerPrecision = NonNullable<BuilderConfig['layerPrecisions']>[string];

export const PRECISION_OPTIONS: OptionSpecs = {
  fp16: { type: 'boolean' },
  int8: { type: 'boolean' },
  best: { type: 'boolean' },
  calib: { type: 'string' }
};

export const PRECISION_HELP = `  --fp16                      allow FP16 layers beside FP32 (trtexec's --fp16)
  --int8                      allow INT8 layers beside FP32 (trtexec's --int8): Convs
                              and GEMMs whose input has a scale in --calib, or an
                              explicit QuantizeLinear/DequantizeLinear pair before it
  --best                      allow every precision webtrt has (trtexec's --best;
                              --fp16 --int8 is the same); with --calib and tuning,
                              each INT8 layer is timed against FP16 and the faster
                              precision kept
  --calib model.calib         the INT8 scales: a calibration cache in TensorRT's
                              format, as \`webtrt calibrate\` writes it`;

/** TF-TRT's conversion parameters, which `webtrt summary` takes as well. */
export const CONVERSION_OPTIONS: OptionSpecs = {
  minimumSegmentSize: { type: 'string' },
  denyOps: { type: 'string', multiple: true },
  maxAllowedEngines: { type: 'string' },
  maximumCachedEngines: { type: 'string' }
};

export const CONVERSION_HELP = `  --denyOps Cast,dom::Op      op types that fall back to the CPU whatever their
                              support (TF-TRT's TF_TRT_OP_DENYLIST), comma separated
                              or repeated; an op of another domain than ai.onnx as
                              domain::Op. A model with such ops, or ops no engine
                              runs, converts: its engines run on WebGPU, the rest
                              on the CPU reference ops
  --minimumSegmentSize N      engine segments of fewer nodes fall back (default 3)
  --maxAllowedEngines N       keep the N largest engine segments, the rest fall back
  --maximumCachedEngines N    engines a converted model keeps per segment, one per
                              input shapes seen, least recently used evicted
                              (default 1)`;

/** The flags that configure a build (--shapes also sets the shapes a run feeds). */
export const BUILDER_OPTIONS: OptionSpecs = {
  shapes: { type: 'string', multiple: true },
  minShapes: { type: 'string', multiple: true },
  optShapes: { type: 'string', multiple: true },
  maxShapes: { type: 'string', multiple: true },
  ...PRECISION_OPTIONS,
  memPoolSize: { type: 'string', multiple: true },
  layerPrecisions: { type: 'string', multiple: true },
  builderOptimizationLevel: { type: 'string' },
  ...CONVERSION_OPTIONS
};

/** The builder flags' lines of a command's --help. */
export const BUILDER_HELP = `  --shapes name:1x3x224x224   the shape the engine is built for, per input, comma
                              separated or repeated; needed for symbolic dims
  --minShapes name:1x3x224x224
  --optShapes name:8x3x224x224
  --maxShapes name:32x3x224x224
                              an optimization profile: the smallest, usual and largest
                              shape of each input (all three, or --optShapes alone).
                              The engine is built and runs at the opt shapes; a
                              converted model (see --denyOps) runs any shapes within
                              the profile, building engines as they are needed
${PRECISION_HELP}
  --memPoolSize workspace:N   the most workspace the kernels may use beyond their
                              outputs, in MiB (or with a unit: 512K, 64M, 1G)
  --layerPrecisions name:fp16,other:fp32
                              hold the layers of these ONNX nodes to fp32, fp16
                              or int8
  --builderOptimizationLevel N
                              0 to 5 (default 3): how hard the builder times the
                              tactics of each layer; 0 takes each kernel's default
${CONVERSION_HELP}`;

/** Flags that only a build reads, for the messages of exec --loadEngine and --native. */
const BUILD_ONLY_FLAGS = Object.keys(BUILDER_OPTIONS).filter(name => name !== 'shapes');

/** The first build-only flag given, as `--name`, if any. */
export function givenBuildFlag(args: ParsedArgs): string | undefined {
  const name = BUILD_ONLY_FLAGS.find(flag => args.values[flag] !== undefined);
  return name && `--${name}`;
}

/** trtexec's optimization profile: each input's smallest, usual and largest shape. */
export interface ShapeProfile {
  min: Map<string, number[]>;
  opt: Map<string, number[]>;
  max: Map<string, number[]>;
}

/** How a model splits into engines and fallback, and how many engines each segment keeps. */
export interface ConversionFlags extends SegmentOptions {
  maximumCachedEngines?: number;
}

export interface BuilderFlags {
  /** The build's configuration; its `shapes` are the opt shapes when there is a profile. */
  config: BuilderConfig;
  /** The input shapes given, by --shapes or as the profile's opt shapes. */
  shapes: Map<string, number[]>;
  profile?: ShapeProfile;
  conversion: ConversionFlags;
}

export function parseBuilderFlags(args: ParsedArgs): BuilderFlags {
  const { command } = args;
  const given = parseShapeFlags(stringListFlag(args, 'shapes'), 'shapes', command);
  const profile = parseProfile(args);
  const shapes = profile ? shapesAtOpt(given, profile, command) : given;
  const precision = parsePrecision(args);
  const config: BuilderConfig = { precision, shapes: Object.fromEntries(shapes) };
  const int8Scales = readCalibFlag(args, precision);
  if (int8Scales) {
    config.int8Scales = int8Scales;
  }
  const workspace = parseMemoryPools(stringListFlag(args, 'memPoolSize'), command);
  if (workspace !== undefined) {
    config.maxWorkspaceBytes = workspace;
  }
  const optimizationLevel = integerFlag(args, 'builderOptimizationLevel', 0);
  if (optimizationLevel !== undefined) {
    if (optimizationLevel > MAX_OPTIMIZATION_LEVEL) {
      throw new UsageError(
        `--builderOptimizationLevel must be from 0 to ${MAX_OPTIMIZATION_LEVEL}, got ${optimizationLevel}`,
        command
      );
    }
    config.optimizationLevel = optimizationLevel;
  }
  const layerPrecisions = parseLayerPrecisions(stringListFlag(args, 'layerPrecisions'), command);
  if (layerPrecisions.size > 0) {
    config.layerPrecisions = Object.fromEntries(layerPrecisions);
  }
  const conversion = parseConversionFlags(args);
  return { config, shapes, ...(profile && { profile }), conversion };
}

export function parsePrecision(args: ParsedArgs): Precision {
  const { best, fp16, int8 } = args.values;
  return best || (fp16 && int8) ? 'best' : int8 ? 'int8' : fp16 ? 'fp16' : 'fp32';
}

/** The scales of --calib's cache, which only an INT8 build reads. */
function readCalibFlag(args: ParsedArgs, precision: Precision): Record<string, number> | undefined {
  const path = args.values.calib;
  if (typeof path !== 'string') {
    return undefined;
  }
  if (precision !== 'int8' && precision !== 'best') {
    throw new UsageError('--calib gives INT8 scales: it needs --int8 or --best', args.command);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--calib: cannot read '${path}': ${(error as Error).message}`,
      args.command
    );
  }
  return Object.fromEntries(readCalibrationCache(text, path).scales);
}

/** --denyOps, --minimumSegmentSize, --maxAllowedEngines and --maximumCachedEngines. */
export function parseConversionFlags(args: ParsedArgs): ConversionFlags {
  const flags: ConversionFlags = {};
  const denyOps = parseDenyOps(stringListFlag(args, 'denyOps'), args.command);
  if (denyOps.length > 0) {
    flags.denyOps = denyOps;
  }
  const integers = [
    ['minimumSegmentSize', 1],
    ['maxAllowedEngines', 0],
    ['maximumCachedEngines', 1]
  ] as const;
  for (const [name, min] of integers) {
    const value = integerFlag(args, name, min);
    if (value !== undefined) {
      flags[name] = value;
    }
  }
  return flags;
}

/** An op type as ONNX names it: "Cast", or "com.example::Swish" for another domain. */
const OP_TYPE = /^(?:[A-Za-z_][\w.]*::)?[A-Za-z_]\w*$/;

function parseDenyOps(values: readonly string[], command: string): string[] {
  const ops = values.flatMap(value => value.split(',')).filter(op => op);
  const malformed = ops.find(op => !OP_TYPE.test(op));
  if (malformed !== undefined) {
    throw new UsageError(
      `--denyOps '${malformed}' is not an op type: give Cast, or domain::Op for an op of another domain (com.example::Swish)`,
      command
    );
  }
  return [...new Set(ops)];
}

/** The profile as a converted model bounds its inputs with it. */
export function optimizationProfile(profile: ShapeProfile): OptimizationProfile {
  return Object.fromEntries(
    [...profile.opt].map(([name, opt]) => [
      name,
      { min: profile.min.get(name)!, opt, max: profile.max.get(name)! }
    ])
  );
}

/**
 * --minShapes / --optShapes / --maxShapes as trtexec takes them: all three, or --optShapes
 * alone (then min = opt = max); each naming the same inputs, with min <= opt <= max in
 * every dim.
 */
function parseProfile(args: ParsedArgs): ShapeProfile | undefined {
  const { command } = args;
  const [min, opt, max] = (['minShapes', 'optShapes', 'maxShapes'] as const).map(flag =>
    parseShapeFlags(stringListFlag(args, flag), flag, command)
  );
  if (min.size === 0 && opt.size === 0 && max.size === 0) {
    return undefined;
  }
  if (opt.size === 0) {
    throw new UsageError(
      '--minShapes and --maxShapes need --optShapes: the engine is built at the opt shapes',
      command
    );
  }
  if (min.size === 0 && max.size === 0) {
    return { min: opt, opt, max: opt };
  }
  if (min.size === 0 || max.size === 0) {
    const missing = min.size === 0 ? '--minShapes' : '--maxShapes';
    throw new UsageError(
      `missing ${missing}: give all three of --minShapes, --optShapes and --maxShapes, or --optShapes alone`,
      command
    );
  }
  for (const [flag, shapes] of [
    ['--minShapes', min],
    ['--maxShapes', max]
  ] as const) {
    const missing = [...opt.keys()].find(name => !shapes.has(name));
    const extra = [...shapes.keys()].find(name => !opt.has(name));
    if (missing !== undefined || extra !== undefined) {
      const reason =
        missing !== undefined
          ? `${flag} does not give '${missing}', which --optShapes gives`
          : `${flag} gives '${extra}', which --optShapes does not`;
      throw new UsageError(`${reason}: the three must name the same inputs`, command);
    }
  }
  for (const [name, optShape] of opt) {
    checkProfileShapes(name, min.get(name)!, optShape, max.get(name)!, command);
  }
  return { min, opt, max };
}

function checkProfileShapes(
  name: string,
  min: readonly number[],
  opt: readonly number[],
  max: readonly number[],
  command: string
): void {
  const spelled = `--minShapes ${name}:${min.join('x')}, --optShapes ${name}:${opt.join('x')}, --maxShapes ${name}:${max.join('x')}`;
  if (min.length !== opt.length || max.length !== opt.length) {
    throw new UsageError(`input '${name}' has shapes of different ranks: ${spelled}`, command);
  }
  const dim = opt.findIndex((size, axis) => !(min[axis] <= size && size <= max[axis]));
  if (dim >= 0) {
    throw new UsageError(
      `input '${name}' dim ${dim} must be min <= opt <= max, got ${min[dim]}, ${opt[dim]}, ${max[dim]} (${spelled})`,
      command
    );
  }
}

/**
 * The shapes the engine is built at: the profile's opt shapes, and --shapes for inputs the
 * profile leaves out. --shapes may repeat an opt shape, not contradict it: the engine runs
 * at the opt shapes only.
 */
function shapesAtOpt(
  given: ReadonlyMap<string, number[]>,
  profile: ShapeProfile,
  command: string
): Map<string, number[]> {
  const shapes = new Map(profile.opt);
  for (const [name, shape] of given) {
    const opt = profile.opt.get(name);
    if (opt && opt.join('x') !== shape.join('x')) {
      throw new UsageError(
        `--shapes ${name}:${shape.join('x')} differs from --optShapes ${name}:${opt.join('x')}: ` +
          'the engine runs at its opt shapes only',
        command
      );
    }
    shapes.set(name, shape);
  }
  return shapes;
}

const BYTES_PER_UNIT: Record<string, number> = { B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 };

/** trtexec's memory pools; webtrt has a workspace only. */
const TRTEXEC_POOLS = ['dlaSRAM', 'dlaLocalDRAM', 'dlaGlobalDRAM', 'tacticSharedMem'];

/**
 * `--memPoolSize workspace:1024` (trtexec's syntax: pool:size, comma separated or repeated;
 * the size in MiB, or with a unit B, K, M or G) as the workspace's bytes.
 */
function parseMemoryPools(values: readonly string[], command: string): number | undefined {
  let workspace: number | undefined;
  for (const item of values.flatMap(value => value.split(',')).filter(item => item)) {
    const match = /^([^:]+):(\d+(?:\.\d+)?|\.\d+)([BKMG])?$/.exec(item);
    if (!match) {
      throw new UsageError(
        `--memPoolSize '${item}' must be pool:size, the size in MiB or with a unit B, K, M or G (e.g. workspace:1024)`,
        command
      );
    }
    const [, pool, size, unit = 'M'] = match;
    if (pool !== 'workspace') {
      const what = TRTEXEC_POOLS.includes(pool) ? `trtexec's pool '${pool}'` : `'${pool}'`;
      throw new UsageError(
        `--memPoolSize names ${what}: webtrt has one memory pool, 'workspace'`,
        command
      );
    }
    if (workspace !== undefined) {
      throw new UsageError("--memPoolSize gives 'workspace' twice", command);
    }
    workspace = Math.floor(Number(size) * BYTES_PER_UNIT[unit]);
  }
  return workspace;
}

const LAYER_PRECISIONS: readonly string[] = ['fp32', 'fp16', 'int8'];

/**
 * `--layerPrecisions name:fp16,other:fp32` (trtexec's syntax) as ONNX node name →
 * precision. The name ends at the last colon, as node names may hold colons.
 */
function parseLayerPrecisions(
  values: readonly string[],
  command: string
): Map<string, LayerPrecision> {
  const precisions = new Map<string, LayerPrecision>();
  for (const item of values.flatMap(value => value.split(',')).filter(item => item)) {
    const split = item.lastIndexOf(':');
    const name = item.slice(0, split);
    const precision = item.slice(split + 1);
    if (split <= 0) {
      throw new UsageError(
        `--layerPrecisions '${item}' must be name:precision, e.g. /conv1/Conv:fp16`,
        command
      );
    }
    if (!LAYER_PRECISIONS.includes(precision)) {
      throw new UsageError(
        `--layerPrecisions '${item}': webtrt layers run in fp32, fp16 or int8, not '${precision}'`,
        command
      );
    }
    if (precisions.has(name)) {
      throw new UsageError(`--layerPrecisions gives '${name}' twice`, command);
    }
    precisions.set(name, precision as LayerPrecision);
  }
  return precisions;
}
