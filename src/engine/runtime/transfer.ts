import { DataType, float16BitsToNumber, numberToFloat16Bits } from '../ir/dtype';
import { sizeOf, Tensor } from '../ir/tensor';
import { GpuTensor, storageBytes, tensorStorage } from '../kernels/context';

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** A storage buffer for `size` 32-bit elements (at least 4 bytes: WebGPU has no empty buffers). */
export function createStorageBuffer(device: GPUDevice, size: number, label: string): GPUBuffer {
  return createTensorBuffer(device, { dtype: 'float32', size }, label);
}

/** A storage buffer for the elements of `tensor` in its storage. */
export function createTensorBuffer(
  device: GPUDevice,
  tensor: Pick<GpuTensor, 'dtype' | 'storage' | 'size'>,
  label: string
): GPUBuffer {
  return device.createBuffer({
    label,
    size: Math.max(4, storageBytes(tensor)),
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

/**
 * The GPU storage form of a host tensor: 32 bits per element (see `storageType`), or the
 * float16 bits themselves for f16 storage.
 */
export function toStorage(
  tensor: Tensor,
  name: string,
  storage?: GpuTensor['storage']
): Float32Array | Int32Array | Uint32Array | Uint16Array {
  const { dtype, data } = tensor;
  switch (tensorStorage({ dtype, storage })) {
    case 'f16':
      return dtype === 'float16'
        ? (data as Uint16Array)
        : Uint16Array.from(tensor.toNumbers(), numberToFloat16Bits);
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

/** A host tensor in a new GPU buffer, in f16 storage when `storage` says so. */
export function upload(
  device: GPUDevice,
  tensor: Tensor,
  name: string,
  storage?: GpuTensor['storage']
): GpuTensor {
  const { dtype, shape, size } = tensor;
  const uploaded: GpuTensor = {
    dtype,
    shape,
    size,
    buffer: createTensorBuffer(device, { dtype, size, storage }, name),
    ...(storage ? { storage } : {})
  };
  writeTensor(device, uploaded, toStorage(tensor, name, storage));
  return uploaded;
}

/**
 * Writes elements in storage form into `target`'s bytes. WebGPU writes whole 4-byte words,
 * so an odd count of f16 elements is padded with one more.
 */
export function writeTensor(
  device: GPUDevice,
  target: GpuTensor,
  elements: Float32Array | Int32Array | Uint32Array | Uint16Array
): void {
  if (elements.length === 0) {
    return;
  }
  const bytes = storageBytes(target);
  let words: ArrayBufferView = elements;
  if (elements.byteLength !== bytes) {
    const padded = new Uint8Array(bytes);
    padded.set(new Uint8Array(elements.buffer, elements.byteOffset, elements.byteLength));
    words = padded;
  }
  device.queue.writeBuffer(
    target.buffer,
    target.offset ?? 0,
    words.buffer,
    words.byteOffset,
    words.byteLength
  );
}

/** Reads a GPU tensor back into a host tensor of its ONNX dtype. */
export async function download(device: GPUDevice, tensor: GpuTensor): Promise<Tensor> {
  const bytes = Math.max(4, storageBytes(tensor));
  const staging = device.createBuffer({
    label: 'readback',
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST
  });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(tensor.buffer, tensor.offset ?? 0, staging, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const raw = staging.getMappedRange().slice(0);
  staging.unmap();
  staging.destroy();
  return fromStorage(tensor.dtype, tensor.shape, raw, tensor.storage);
}

/**
 * A host tensor of `dtype` from the GPU storage of its elements (see `storageType`; f16
 * storage holds float16 bits). `raw` may be longer than the elements.
 */
export function fromStorage(
  dtype: DataType,
  shape: readonly number[],
  raw: ArrayBuffer,
  storage?: GpuTensor['storage']
): Tensor {
  const size = sizeOf(shape);
  switch (tensorStorage({ dtype, storage })) {
    case 'f16': {
      const bits = new Uint16Array(raw, 0, size);
      return dtype === 'float16'
        ? new Tensor(dtype, shape, bits.slice())
        : Tensor.fromNumbers(dtype, shape, Array.from(bits, float16BitsToNumber));
    }
    case 'f32':
      return dtype === 'float32'
        ? new Tensor(dtype, shape, new Float32Array(raw, 0, size))
        : Tensor.fromNumbers(dtype, shape, new Float32Array(raw, 0, size));
    case 'u32':
      return dtype === 'bool'
        ? new Tensor(
            dtype,
            shape,
            Uint8Array.from(new Uint32Array(raw, 0, size), v => (v ? 1 : 0))
          )
        : new Tensor(dtype, shape, new Uint32Array(raw, 0, size));
    case 'i32':
      return Tensor.fromNumbers(dtype, shape, new Int32Array(raw, 0, size));
  }
}

/**
 * The host-visible buffer an execution context writes its inputs through, made once.
 * queue.writeBuffer stages each write in Dawn's 4 MiB upload ring, and one larger than
 * the ring (a batch of 8 images is 4.8 MB) in a new buffer every time; this one is written
 * while mapped, copied to the inputs on the GPU, and mapped again as soon as the copies
 * are submitted, so it is ready by the next execution.
 */
export class InputUpload {
  private readonly buffer: GPUBuffer;
  /** Each input's byte offset in the buffer. */
  private readonly offsets: number[] = [];
  /** Resolves once the buffer is mapped for writing; null while it is unmapped. */
  private mapping: Promise<void> | null = Promise.resolve();

  constructor(
    device: GPUDevice,
    private readonly targets: readonly GpuTensor[],
    label: string
  ) {
    let end = 0;
    for (const target of targets) {
      this.offsets.push(end);
      end += storageBytes(target);
    }
    this.buffer = device.createBuffer({
      label,
      size: Math.max(4, end),
      usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true
    });
  }

  /**
   * Writes each target's elements (as toStorage gives them) into the buffer and encodes
   * their copies to the targets; submit `encoder`, then call `submitted`.
   */
  async write(
    encoder: GPUCommandEncoder,
    elements: readonly (Float32Array | Int32Array | Uint32Array | Uint16Array)[]
  ): Promise<void> {
    await (this.mapping ??= this.map());
    const mapped = this.buffer.getMappedRange();
    elements.forEach((values, i) => {
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      new Uint8Array(mapped, this.offsets[i], bytes.length).set(bytes);
    });
    this.buffer.unmap();
    this.mapping = null;
    this.targets.forEach((target, i) => {
      const bytes = storageBytes(target);
      if (bytes > 0) {
        encoder.copyBufferToBuffer(
          this.buffer,
          this.offsets[i],
          target.buffer,
          target.offset ?? 0,
          bytes
        );
      }
    });
  }

  /** After the encoder of `write` was submitted: maps the buffer for the next write. */
  submitted(): void {
    this.mapping ??= this.map();
  }

  private map(): Promise<void> {
    const mapping = this.buffer.mapAsync(GPUMapMode.WRITE);
    // A failed mapping (a lost device) is reported by the write that awaits it.
    mapping.catch(() => undefined);
    return mapping;
  }

  destroy(): void {
    this.buffer.destroy();
  }
}
