import { requestNodeDevice } from '../../src/cli/gpu';

let device: Promise<GPUDevice> | undefined;

/** One Dawn device per test process, destroyed when the process has nothing left to do. */
export function testDevice(): Promise<GPUDevice> {
  if (!device) {
    device = requestNodeDevice();
    const held = device;
    process.once('beforeExit', () => held.then(d => d.destroy()));
  }
  return device;
}
