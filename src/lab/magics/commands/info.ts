import { deviceReport } from '../../../engine';
import { reportBundle } from '../../bundle';
import { defineCommand } from '../command';
import { sessionDevice } from '../engines';

export const infoCommand = defineCommand({
  name: 'info',
  summary:
    'the WebGPU adapter, its features and limits: the tutorials\' "Tensor Core present?" check',
  description:
    'Shows the adapter this browser session builds and runs engines on, which features kernels ' +
    'can use on it (shader-f16 for FP16 layers, subgroups, subgroup matrices: the tensor cores ' +
    'of WebGPU, timestamp-query for per-layer timing) and the limits kernels are sized against.',
  operands: [],
  options: {},
  async run(call, context) {
    const device = await sessionDevice(context);
    context.display(reportBundle(deviceReport(device)));
  }
});
