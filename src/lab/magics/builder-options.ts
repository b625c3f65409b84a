import {
  BuilderConfig,
  hasExplicitQuantization,
  MAX_OPTIMIZATION_LEVEL,
  Precision,
  readCalibrationCache,
  SegmentOptions
} from '../../engine';
import type { IMagicContext } from './context';
import {
  checkShapesGiven,
  defaultOptimizationLevel,
  ILoadedModel,
  messageOf,
  sessionDevice
} from './engines';
import { MagicError } from './errors';
import { choice, integer, IOption, list, shapes, text } from './options';

const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'int8', 'best'];
const BYTES_PER_MIB = 2 ** 20;

/** The builder's options, which `convert` and a `run` of an ONNX model share. */
export const BUILDER_OPTIONS = {
  precision: {
    kind: choice(PRECISIONS),
    placeholder: PRECISIONS.join('|'),
    help:
      'fp32; fp16 also allows FP16 layers where the adapter has shader-f16 (trtexec --fp16); ' +
      'int8 allows INT8 layers, with the scales of --calib or of the QuantizeLinear / ' +
      'DequantizeLinear nodes of the model (trtexec --int8); best allows every precision ' +
      '(trtexec --best). Default: the precision setting'
  } satisfies IOption<Precision>,
  calib: {
    kind: text,
    placeholder: 'model.calib',
    help:
      "the INT8 scales for --precision int8 or best: a calibration cache in TensorRT's " +
      'format, as %trt calibrate writes it (trtexec --calib)'
  } satisfies IOption<string>,
  shapes: {
    kind: shapes,
    placeholder: 'name:1x3x32x32,...',
    help: "each input's shape, comma separated or repeated; needed for dims the model leaves open"
  } satisfies IOption<Map<string, number[]>>,
  workspace: {
    kind: integer(0),
    placeholder: 'MiB',
    help: "the most scratch memory a layer may use beyond its outputs (TensorRT's workspace). Default: the workspace setting"
  } satisfies IOption<number>,
  'optimization-level': {
    kind: integer(0, MAX_OPTIMIZATION_LEVEL),
    placeholder: `0-${MAX_OPTIMIZATION_LEVEL}`,
    help:
      'how hard the builder times the tactics of each layer (trtexec --builderOptimizationLevel); ' +
      "0 takes each kernel's default. Default: 3 on a GPU, 0 on a software adapter, where timing is slow"
  } satisfies IOption<number>
};

export interface IBuilderChoices {
  precision?: Precision;
  calib?: string;
  shapes?: Map<string, number[]>;
  workspace?: number;
  'optimization-level'?: number;
}

/** The build's configuration from the options given, the user's settings for the rest. */
export async function builderConfig(
  context: IMagicContext,
  model: ILoadedModel,
  choices: IBuilderChoices
): Promise<BuilderConfig> {
  const shapesGiven = choices.shapes ?? new Map();
  checkShapesGiven(model, shapesGiven);
  const precision = choices.precision ?? context.settings.precision;
  const int8Scales = await calibrationScales(context, model, [precision], choices.calib);
  const optimizationLevel =
    choices['optimization-level'] ?? defaultOptimizationLevel(await sessionDevice(context));
  return {
    precision,
    shapes: Object.fromEntries(shapesGiven),
    maxWorkspaceBytes: (choices.workspace ?? context.settings.workspaceMiB) * BYTES_PER_MIB,
    ...(int8Scales && { int8Scales }),
    ...(optimizationLevel !== undefined && { optimizationLevel })
  };
}

/**
 * The INT8 scales of the calibration cache `calib` (--calib) for builds in `precisions`.
 * Without one, an INT8 build of a model that carries no scales of its own (no
 * QuantizeLinear / DequantizeLinear) is refused: every layer would stay FP32 and the engine
 * would pass for INT8.
 */
export async function calibrationScales(
  context: IMagicContext,
  model: ILoadedModel,
  precisions: readonly string[],
  calib: string | undefined
): Promise<Record<string, number> | undefined> {
  if (calib === undefined) {
    if (precisions.includes('int8') && !hasExplicitQuantization(model.graph)) {
      throw new MagicError(
        '--precision int8 needs INT8 scales: give --calib model.calib, a calibration cache ' +
          `that %trt calibrate writes (${model.path} has no QuantizeLinear / DequantizeLinear ` +
          'nodes that carry scales of their own)'
      );
    }
    return undefined;
  }
  if (!precisions.includes('int8') && !precisions.includes('best')) {
    throw new MagicError(
      `--calib gives INT8 scales: it needs --precision int8 or best, not ${precisions.join(',')}`
    );
  }
  return readCalibrationScales(context, calib, model);
}

/**
 * The scales of the calibration cache at `path`, by tensor name; a cache that names no
 * tensor of `model` was made for another model, and is refused.
 */
export async function readCalibrationScales(
  context: IMagicContext,
  path: string,
  { graph, path: modelPath }: ILoadedModel
): Promise<Record<string, number>> {
  const text = new TextDecoder().decode(await context.files.read(path));
  let scales: Map<string, number>;
  try {
    scales = readCalibrationCache(text, path).scales;
  } catch (error) {
    // The message names the file and line.
    throw new MagicError(messageOf(error), { cause: error });
  }
  const tensors = new Set([
    ...graph.inputs.map(input => input.name),
    ...graph.nodes.flatMap(node => node.outputs)
  ]);
  if (![...scales.keys()].some(name => tensors.has(name))) {
    throw new MagicError(
      `${path} holds no scale for a tensor of ${modelPath}: it was calibrated for another model`
    );
  }
  return Object.fromEntries(scales);
}

/** How a model is split into engine and fallback segments: `convert` and `inspect` share them. */
export const SEGMENT_OPTIONS = {
  'minimum-segment-size': {
    kind: integer(1),
    placeholder: 'N',
    help:
      'the fewest nodes a segment needs to become an engine, smaller ones fall back to the ' +
      "CPU (TF-TRT's minimum_segment_size). Default: the minimum segment size setting"
  } satisfies IOption<number>,
  'deny-ops': {
    kind: list(text),
    placeholder: 'Op,domain::Op,...',
    help:
      "op types that fall back to the CPU whatever their support (TF-TRT's " +
      'TF_TRT_OP_DENYLIST), comma separated or repeated; ops of a domain other than ai.onnx ' +
      'with their domain'
  } satisfies IOption<string[]>
};

export interface ISegmentChoices {
  'minimum-segment-size'?: number;
  'deny-ops'?: string[];
}

/** The segmentation's options from the options given, the user's settings for the rest. */
export function segmentOptions(context: IMagicContext, choices: ISegmentChoices): SegmentOptions {
  return {
    minimumSegmentSize: choices['minimum-segment-size'] ?? context.settings.minimumSegmentSize,
    ...(choices['deny-ops'] && { denyOps: choices['deny-ops'] })
  };
}
