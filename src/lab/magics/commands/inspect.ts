import { modelReport } from '../../../engine';
import { reportBundle } from '../../bundle';
import { SEGMENT_OPTIONS, segmentOptions } from '../builder-options';
import { defineCommand } from '../command';
import { loadPlan, modelKind, readModel } from '../engines';
import { MagicError } from '../errors';

export const inspectCommand = defineCommand({
  name: 'inspect',
  summary: 'layers, fusions, precisions, memory plan and partitions of a model or an engine',
  description:
    'For an ONNX model: its inputs and outputs, opsets, the ops it uses and where webtrt runs ' +
    "each, and how it splits into engine and fallback segments (TF-TRT's segmentation). For " +
    'a plan: the engine inspector: its layers with the ONNX nodes fused into each, their ' +
    'precisions and tactics, the passes that made them, the memory plan and the weights; for ' +
    'a converted plan, its conversion summary and engine caches.',
  operands: [{ name: 'model', placeholder: 'model.onnx|model.wtrt' }],
  options: SEGMENT_OPTIONS,
  async run({ operands: [path], options }, context) {
    if (modelKind(path) === 'plan') {
      const given = Object.keys(options).map(name => `--${name}`);
      if (given.length > 0) {
        throw new MagicError(
          `${given.join(' and ')} ${given.length === 1 ? 'splits' : 'split'} an ONNX model; the plan ${path} holds its segments already`
        );
      }
      const held = context.session.find(path);
      const { report } =
        held && !(await context.files.exists(path)) ? held : await loadPlan(context, path);
      context.display(reportBundle(report));
      return;
    }
    const model = await readModel(context, path);
    const report = modelReport(model.graph, model, segmentOptions(context, options));
    context.display(reportBundle(report));
  }
});
