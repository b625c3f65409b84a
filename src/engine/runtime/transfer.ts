import { DataType } from '../ir/dtype';
import { sizeOf, Tensor } from '../ir/tensor';
import { GpuTensor, storageType } from '../kernels/context';

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** A storage buffer for `size` 32-bit elements (at least 4 bytes: WebGPU has no empty buffers). */
export function createStorageBuffer(device: GPUDevice, size: number, label: string): GPUBuffer {
  return device.createBuffer({
    label,
    size: Math.max(4, size * 4),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST
  });
}

/** Whether every value of `tensor` fits the 32-bit storage the GPU keeps it in. */
export function fitsStorage(tensor: Tensor): boolean {
  if (tensor.dtype !== 'int64' && tensor.dtype !== 'uint64') {
    return true;
  }
  return tensor.toNumbers().every(v => v >= INT32_MIN && v <= INT32_MAX);
}

/** The 32-bit GPU storage form of a host tensor (see `storageType`). */
export function toStorage(tensor: Tensor, name: string): Float32Array | Int32Array | Uint32Array {
  const { dtype, data } = tensor;
  switch (storageType(dtype)) {
    case 'f32':
      return dtype === 'float32' ? (data as Float32Array) : Float32Array.from(tensor.toNumbers());
    case 'u32':
      return dtype === 'bool' ? Uint32Array.from(data as Uint8Array) : (data as Uint32Array);
    case 'i32':
      if (!fitsStorage(tensor)) {
        throw new Error(
          `tensor '${name}' holds ${dtype} values outside the int32 range the GPU stores`
        );
      }
      return dtype === 'int32' ? (data as Int32Array) : Int32Array.from(tensor.toNumbers());
  }
}

export function upload(device: GPUDevice, tensor: Tensor, name: string): GpuTensor {
  const storage = toStorage(tensor, name);
  const buffer = createStorageBuffer(device, tensor.size, name);
  if (storage.length > 0) {
    device.queue.writeBuffer(buffer, 0, storage.buffer, storage.byteOffset, storage.byteLength);
  }
  return { dtype: tensor.dtype, shape: tensor.shape, size: tensor.size, buffer };
}

/** Reads a GPU tensor back into a host tensor of its ONNX dtype. */
export async function download(device: GPUDevice, tensor: GpuTensor): Promise<Tensor> {
  const size = sizeOf(tensor.shape);
  const bytes = Math.max(4, size * 4);
  const staging = device.createBuffer({
    label: 'readback',
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST
  });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(tensor.buffer, 0, staging, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const raw = staging.getMappedRange().slice(0, size * 4);
  staging.unmap();
  staging.destroy();
  return fromStorage(tensor.dtype, tensor.shape, raw);
}

/** A host tensor of `dtype` from the 32-bit GPU storage of its elements (see `storageType`). */
export function fromStorage(dtype: DataType, shape: readonly number[], raw: ArrayBuffer): Tensor {
  switch (storageType(dtype)) {
    case 'f32':
      return dtype === 'float32'
        ? new Tensor(dtype, shape, new Float32Array(raw))
        : Tensor.fromNumbers(dtype, shape, new Float32Array(raw));
    case 'u32':
      return dtype === 'bool'
        ? new Tensor(
            dtype,
            shape,
            Uint8Array.from(new Uint32Array(raw), v => (v ? 1 : 0))
          )
        : new Tensor(dtype, shape, new Uint32Array(raw));
    case 'i32':
      return Tensor.fromNumbers(dtype, shape, new Int32Array(raw));
  }
}
