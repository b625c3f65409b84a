import {
  BuilderConfig,
  conversionReport,
  convert,
  ConvertedModel,
  Engine,
  engineReport,
  SegmentOptions,
  computedByOneEngine
} from '../../../engine';
import { reportBundle } from '../../bundle';
import {
  BUILDER_OPTIONS,
  builderConfig,
  SEGMENT_OPTIONS,
  segmentOptions
} from '../builder-options';
import { defineCommand } from '../command';
import type { IMagicContext, ISessionModel } from '../context';
import {
  buildEngine,
  checkOpsDefined,
  expectOnnx,
  ILoadedModel,
  messageOf,
  readModel,
  rememberPlan,
  segmentBuildProgress,
  sessionDevice,
  workError
} from '../engines';
import { MagicError } from '../errors';
import { integer, IOption, text } from '../options';

export const convertCommand = defineCommand({
  name: 'convert',
  summary: 'build an optimized engine from an ONNX model and save its plan (.wtrt)',
  description:
    "Builds an engine for this browser's WebGPU adapter, as trtexec --saveEngine does: the " +
    "builder's passes fuse and eliminate layers, each layer gets its precision and tactic, " +
    'the intermediate tensors are planned into arenas. Shows the build summary and writes the ' +
    'plan, which loads on an adapter like this one only. The engine stays in this session for ' +
    '%trt run and %trt profile, and in the inspector.\n' +
    'A model whose ops do not all go into one engine (an op without a WebGPU kernel, a denied ' +
    'op) is converted as TF-TRT converts it: each supported subgraph becomes an engine, built ' +
    "now at the model's shapes and later for each new input shape, the rest runs on the CPU. " +
    'Shows the conversion summary and writes the converted model as the plan.',
  operands: [{ name: 'model', placeholder: 'model.onnx' }],
  options: {
    output: {
      kind: text,
      short: 'o',
      placeholder: 'model.wtrt',
      help: "where to write the plan. Default: the model's path with .wtrt"
    } satisfies IOption<string>,
    ...BUILDER_OPTIONS,
    ...SEGMENT_OPTIONS,
    'maximum-cached-engines': {
      kind: integer(1),
      placeholder: 'N',
      help:
        'for a model converted into segments: the engines kept per segment, one per set of ' +
        "input shapes, the least recently used dropped first (TF-TRT's maximum_cached_engines). " +
        'Default: the maximum cached engines setting'
    } satisfies IOption<number>
  },
  cellExample:
    '%%trt convert small_cnn.onnx\nprecision: fp16\nshapes: {input: [1, 3, 32, 32]}\ndeny-ops: [Cast]',
  async run({ operands: [path], options }, context) {
    expectOnnx(path, 'convert');
    const output = options.output ?? path.replace(/\.onnx$/i, '.wtrt');
    if (!/\.wtrt$/i.test(output)) {
      // run, profile and inspect tell a plan from a model by its extension.
      throw new MagicError(`-o '${output}': a plan's file name ends in .wtrt`);
    }
    const model = await readModel(context, path);
    checkOpsDefined(model);
    const segmenting = segmentOptions(context, options);
    const config = await builderConfig(context, model, options);
    const entry = computedByOneEngine(model.graph, segmenting)
      ? await convertToEngine(context, model, config, segmenting, output)
      : await convertToSegments(
          context,
          model,
          config,
          {
            ...segmenting,
            maximumCachedEngines:
              options['maximum-cached-engines'] ?? context.settings.maximumCachedEngines
          },
          output
        );
    context.session.add(entry);
    context.display(reportBundle(entry.report));
  }
});

/** The whole model as one engine, its plan written to `output`. */
async function convertToEngine(
  context: IMagicContext,
  model: ILoadedModel,
  config: BuilderConfig,
  segmenting: SegmentOptions,
  output: string
): Promise<ISessionModel> {
  const engine = await buildEngine(context, model, config);
  const plan = await writePlan(context, output, engine);
  return {
    name: output,
    engine,
    report: engineReport(engine, model.path, {
      graph: model.graph,
      plan: { path: output, bytes: plan.byteLength },
      partitions: segmenting
    })
  };
}

/**
 * The model converted into engine and fallback segments, each engine built at the shapes of
 * `config` (with progress per engine), the converted model's plan written to `output`.
 */
async function convertToSegments(
  context: IMagicContext,
  model: ILoadedModel,
  { shapes, ...config }: BuilderConfig,
  params: SegmentOptions & { maximumCachedEngines: number },
  output: string
): Promise<ISessionModel> {
  const device = await sessionDevice(context);
  let converted: ConvertedModel;
  try {
    converted = convert(model.graph, { ...config, ...params }, device);
  } catch (error) {
    throw new MagicError(`${model.path} does not convert: ${messageOf(error)}`, { cause: error });
  }
  try {
    await converted.build(shapes, {
      signal: context.signal,
      onBuildProgress: segmentBuildProgress(context, model.path, converted)
    });
  } catch (error) {
    converted.destroy();
    throw workError(`${model.path} does not build`, error);
  }
  const plan = await writePlan(context, output, converted);
  return {
    name: output,
    converted,
    report: conversionReport(converted, model.path, {
      plan: { path: output, bytes: plan.byteLength }
    })
  };
}

/**
 * Serializes `built` and writes its plan to `output`, last: an interrupted or failed command
 * leaves no file behind, and destroys what it built.
 */
async function writePlan(
  context: IMagicContext,
  output: string,
  built: Engine | ConvertedModel
): Promise<Uint8Array> {
  try {
    const plan = built.serialize();
    context.signal.throwIfAborted();
    await context.files.write(output, plan);
    rememberPlan(built, plan);
    return plan;
  } catch (error) {
    built.destroy();
    throw error;
  }
}
