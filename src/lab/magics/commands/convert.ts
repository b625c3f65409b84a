import { engineReport } from '../../../engine';
import { reportBundle } from '../../bundle';
import { BUILDER_OPTIONS, builderConfig } from '../builder-options';
import { defineCommand } from '../command';
import { buildEngine, expectOnnx, readModel, rememberPlan } from '../engines';
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
    '%trt run and %trt profile, and in the inspector.',
  operands: [{ name: 'model', placeholder: 'model.onnx' }],
  options: {
    output: {
      kind: text,
      short: 'o',
      placeholder: 'model.wtrt',
      help: "where to write the plan. Default: the model's path with .wtrt"
    } satisfies IOption<string>,
    ...BUILDER_OPTIONS,
    'minimum-segment-size': {
      kind: integer(1),
      placeholder: 'N',
      help: "the fewest nodes a segment needs to become an engine, smaller ones fall back to the CPU (TF-TRT's minimum_segment_size). Default: the minimum segment size setting"
    } satisfies IOption<number>
  },
  cellExample: '%%trt convert small_cnn.onnx\nprecision: fp16\nshapes: {input: [1, 3, 32, 32]}',
  async run({ operands: [path], options }, context) {
    expectOnnx(path, 'convert');
    const output = options.output ?? path.replace(/\.onnx$/i, '.wtrt');
    if (!/\.wtrt$/i.test(output)) {
      // run, profile and inspect tell a plan from a model by its extension.
      throw new MagicError(`-o '${output}': a plan's file name ends in .wtrt`);
    }
    const model = await readModel(context, path);
    const config = await builderConfig(context, model, options);
    const engine = await buildEngine(context, model, config);
    const plan = engine.serialize();
    try {
      // Written last: an interrupted or failed command leaves no file behind.
      context.signal.throwIfAborted();
      await context.files.write(output, plan);
    } catch (error) {
      engine.destroy();
      throw error;
    }
    rememberPlan(engine, plan);
    const report = engineReport(engine, path, {
      graph: model.graph,
      plan: { path: output, bytes: plan.byteLength },
      partitions: {
        minimumSegmentSize: options['minimum-segment-size'] ?? context.settings.minimumSegmentSize
      }
    });
    context.session.addEngine({ name: output, engine, report });
    context.display(reportBundle(report));
  }
});
