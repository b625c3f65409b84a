import { BuilderConfig, MAX_OPTIMIZATION_LEVEL, Precision, SegmentOptions } from '../../engine';
import type { IMagicContext } from './context';
import { checkShapesGiven, defaultOptimizationLevel, ILoadedModel, sessionDevice } from './engines';
import { choice, integer, IOption, list, shapes, text } from './options';

const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'best'];
const BYTES_PER_MIB = 2 ** 20;

/** The builder's options, which `convert` and a `run` of an ONNX model share. */
export const BUILDER_OPTIONS = {
  precision: {
    kind: choice(PRECISIONS),
    placeholder: PRECISIONS.join('|'),
    help:
      'fp32; fp16 also allows FP16 layers where the adapter has shader-f16 (trtexec --fp16); ' +
      'best allows every precision (trtexec --best). Default: the precision setting'
  } satisfies IOption<Precision>,
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
  const optimizationLevel =
    choices['optimization-level'] ?? defaultOptimizationLevel(await sessionDevice(context));
  return {
    precision: choices.precision ?? context.settings.precision,
    shapes: Object.fromEntries(shapesGiven),
    maxWorkspaceBytes: (choices.workspace ?? context.settings.workspaceMiB) * BYTES_PER_MIB,
    ...(optimizationLevel !== undefined && { optimizationLevel })
  };
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
