import { positionalArgs } from '../args';
import { Command } from '../command';
import { modelReport, reportText } from '../engine';
import { loadModel } from '../model';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'show a model: inputs, outputs, opsets, ops (unsupported ones marked), partitions',
  help: `Usage: webtrt inspect <model.onnx>

Prints the model's inputs and outputs (symbolic dims by name, ? when unknown), opset
imports, producer, node count, a histogram of its ops marking those webtrt cannot run
or runs only on the CPU, its parameters (elements and bytes of the initializers), and
its partitions: the runs of nodes an engine computes on WebGPU and those that fall back
to the CPU, with the ops that make them fall back.

Options:
  -h, --help   show this help`,
  options: {},
  async run(args) {
    const [path] = positionalArgs(args, ['<model.onnx>']);
    const { graph, bytes, importMs } = loadModel(path);
    process.stdout.write(`${reportText(modelReport(graph, { path, bytes, importMs }))}\n`);
  }
};
