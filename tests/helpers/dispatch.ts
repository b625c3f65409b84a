/**
 * Runs generated compute shaders straight on the test device, one storage buffer per
 * tensor, for kernel generators tested apart from the ops that use them.
 */
import { NamedKernel } from '../../src/engine/kernels/context';
import { withPrelude } from '../../src/engine/kernels/wgsl';

export interface KernelRun {
  code: string;
  workgroups: readonly [number, number?, number?];
}

/** A kernel of a sequence, and which of the buffers each of its bindings is. */
export interface KernelStep extends KernelRun {
  buffers: number[];
}

/**
 * Dispatches `steps` in order over buffers holding `contents` (sized up to a multiple of 4
 * bytes) and returns the bytes buffer `output` holds afterwards. Validation errors throw,
 * with the shader's code.
 */
export async function dispatchKernels(
  device: GPUDevice,
  steps: KernelStep[],
  contents: ArrayBufferView[],
  output: number
): Promise<ArrayBuffer> {
  const buffers = contents.map(view => {
    const buffer = device.createBuffer({
      size: Math.max(4, Math.ceil(view.byteLength / 4) * 4),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST
    });
    const padded = new Uint8Array(buffer.size);
    padded.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    device.queue.writeBuffer(buffer, 0, padded);
    return buffer;
  });
  const result = buffers[output];
  const readback = device.createBuffer({
    size: result.size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST
  });
  const encoder = device.createCommandEncoder();
  const codes: string[] = [];
  device.pushErrorScope('validation');
  for (const step of steps) {
    const code = withPrelude(step.code);
    codes.push(code);
    const module = device.createShaderModule({ code });
    const pipeline = device.createComputePipeline({
      layout: 'auto',
      compute: { module, entryPoint: 'main' }
    });
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: step.buffers.map((index, binding) => ({
          binding,
          resource: { buffer: buffers[index] }
        }))
      })
    );
    pass.dispatchWorkgroups(...(step.workgroups as [number, number?, number?]));
    pass.end();
  }
  encoder.copyBufferToBuffer(result, 0, readback, 0, result.size);
  device.queue.submit([encoder.finish()]);
  const error = await device.popErrorScope();
  if (error) {
    throw new Error(`${error.message}\n${codes.join('\n\n')}`);
  }
  await readback.mapAsync(GPUMapMode.READ);
  const bytes = readback.getMappedRange().slice(0);
  readback.destroy();
  buffers.forEach(b => b.destroy());
  return bytes;
}

/**
 * Kernels that name their bindings: one buffer per distinct name, in order of first use,
 * `contentsOf(name, elements)` filling it. Returns the bytes of buffer `output`.
 */
export function dispatchNamedKernels<Name extends string>(
  device: GPUDevice,
  kernels: readonly NamedKernel<Name>[],
  contentsOf: (name: Name, elements: number) => ArrayBufferView,
  output: Name
): Promise<ArrayBuffer> {
  const names: Name[] = [];
  const contents: ArrayBufferView[] = [];
  const steps = kernels.map(kernel => ({
    ...kernel,
    buffers: kernel.bindings.map(({ name, elements }) => {
      if (!names.includes(name)) {
        names.push(name);
        contents.push(contentsOf(name, elements));
      }
      return names.indexOf(name);
    })
  }));
  return dispatchKernels(device, steps, contents, names.indexOf(output));
}
