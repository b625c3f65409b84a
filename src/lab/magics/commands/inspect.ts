import { modelReport } from '../../../engine';
import { reportBundle } from '../../bundle';
import { defineCommand } from '../command';
import { loadPlan, modelKind, readModel } from '../engines';
import { MagicError } from '../errors';
import { integer, IOption } from '../options';

export const inspectCommand = defineCommand({
  name: 'inspect',
  summary: 'layers, fusions, precisions, memory plan and partitions of a model or an engine',
  description:
    'For an ONNX model: its inputs and outputs, opsets, the ops it uses and where webtrt runs ' +
    "each, and how it splits into engine and fallback segments (TF-TRT's segmentation). For " +
    'a plan: the engine inspector: its layers with the ONNX nodes fused into each, their ' +
    'precisions and tactics, the passes that made them, the memory plan and the weights.',
  operands: [{ name: 'model', placeholder: 'model.onnx|model.wtrt' }],
  options: {
    'minimum-segment-size': {
      kind: integer(1),
      placeholder: 'N',
      help:
        "for an ONNX model: the fewest nodes a segment needs to become an engine (TF-TRT's " +
        'minimum_segment_size). Default: the minimum segment size setting'
    } satisfies IOption<number>
  },
  async run({ operands: [path], options }, context) {
    const minimumSegmentSize = options['minimum-segment-size'];
    if (modelKind(path) === 'plan') {
      if (minimumSegmentSize !== undefined) {
        throw new MagicError(
          `--minimum-segment-size splits an ONNX model; the plan ${path} holds its engine already`
        );
      }
      const held = context.session.findEngine(path);
      const { report } =
        held && !(await context.files.exists(path)) ? held : await loadPlan(context, path);
      context.display(reportBundle(report));
      return;
    }
    const model = await readModel(context, path);
    const report = modelReport(model.graph, model, {
      minimumSegmentSize: minimumSegmentSize ?? context.settings.minimumSegmentSize
    });
    context.display(reportBundle(report));
  }
});
