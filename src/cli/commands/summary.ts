import { positionalArgs } from '../args';
import {
  CONVERSION_HELP,
  CONVERSION_OPTIONS,
  parseConversionFlags,
  parsePrecision,
  PRECISION_HELP,
  PRECISION_OPTIONS
} from '../builder-flags';
import { Command } from '../command';
import { reportText, segmentationSummary, segmentGraph } from '../engine';
import { loadModel } from '../model';

export const summaryCommand: Command = {
  name: 'summary',
  summary: "show how a model converts into engines and CPU fallback, as TF-TRT's summary() does",
  help: `Usage: webtrt summary <model.onnx> [options]

Splits the model as webtrt build would convert it, without building anything, and
prints TF-TRT's converter summary: one row per engine (its nodes, inputs and outputs
with their dtypes and shapes, the op types inside), the number of engines, the share
of ops converted, and the op types that fall back to the CPU with why.

Options:
${CONVERSION_HELP}
${PRECISION_HELP}
  -h, --help                  show this help`,
  options: { ...CONVERSION_OPTIONS, ...PRECISION_OPTIONS },
  async run(args) {
    const [path] = positionalArgs(args, ['<model.onnx>']);
    const conversion = parseConversionFlags(args);
    const precision = parsePrecision(args);
    const { graph } = loadModel(path);
    const segmentation = segmentGraph(graph, conversion);
    const report = segmentationSummary(segmentation, path, { ...conversion, precision });
    process.stdout.write(`${reportText(report)}\n`);
  }
};
