/**
 * Runs a generated compute shader straight on the test device, one storage buffer per
 * binding, for kernel generators tested apart from the ops that use them.
 */
import { withPrelude } from '../../src/engine/kernels/wgsl';

export interface KernelRun {
  code: string;
  workgroups: readonly [number, number?, number?];
}

/**
 * Dispatches `kernel` once with binding i holding `contents[i]` (sized up to a multiple of
 * 4 bytes) and returns the bytes binding `output` holds afterwards. Validation errors
 * throw, with the shader's code.
 */
export async function dispatchKernel(
  device: GPUDevice,
  kernel: KernelRun,
  contents: ArrayBufferView[],
  output: number
): Promise<ArrayBuffer> {
  const code = withPrelude(kernel.code);
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const pipeline = device.createComputePipeline({
    layout: 'auto',
    compute: { module, entryPoint: 'main' }
  });
  const buffers = contents.map(view => {
    const buffer = device.createBuffer({
      size: Math.max(4, Math.ceil(view.byteLength / 4) * 4),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST
    });
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    const padded = new Uint8Array(buffer.size);
    padded.set(bytes);
    device.queue.writeBuffer(buffer, 0, padded);
    return buffer;
  });
  const result = buffers[output];
  const readback = device.createBuffer({
    size: result.size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(
    0,
    device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } }))
    })
  );
  pass.dispatchWorkgroups(...(kernel.workgroups as [number, number?, number?]));
  pass.end();
  encoder.copyBufferToBuffer(result, 0, readback, 0, result.size);
  device.queue.submit([encoder.finish()]);
  const error = await device.popErrorScope();
  if (error) {
    throw new Error(`${error.message}\n${code}`);
  }
  await readback.mapAsync(GPUMapMode.READ);
  const bytes = readback.getMappedRange().slice(0);
  readback.destroy();
  buffers.forEach(b => b.destroy());
  return bytes;
}
