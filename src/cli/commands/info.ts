import { positionalArgs } from '../args';
import { Command } from '../command';
import { deviceReport, reportText } from '../engine';
import { requestNodeDevice } from '../gpu';

export const infoCommand: Command = {
  name: 'info',
  summary: 'show the WebGPU adapter: FP16, subgroups, subgroup matrices (tensor cores), limits',
  help: `Usage: webtrt info

Prints the WebGPU adapter engines are built on, the features that change what the
builder can use (shader-f16 for FP16 layers, subgroups, subgroup matrices: the tensor
cores, timestamp-query for per-layer GPU timing), every feature of the device, and the
limits kernels are sized against.

Options:
  -h, --help   show this help`,
  options: {},
  async run(args) {
    positionalArgs(args, []);
    const device = await requestNodeDevice();
    try {
      process.stdout.write(`${reportText(deviceReport(device))}\n`);
    } finally {
      device.destroy();
    }
  }
};
