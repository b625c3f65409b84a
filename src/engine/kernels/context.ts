import { DataType } from '../ir/dtype';
import { Node } from '../ir/graph';

/**
 * A tensor in GPU memory. `dtype` is the ONNX type the value has; its storage on the
 * GPU is 32 bits per element (see `storageType`) unless `storage` says otherwise.
 */
export interface GpuTensor {
  dtype: DataType;
  shape: readonly number[];
  size: number;
  buffer: GPUBuffer;
  /**
   * Where the first element lies in `buffer`, in bytes (0 when absent): an engine places
   * its tensors in slices of one arena.
   */
  offset?: number;
  /**
   * 'f16': a float16 tensor stored as WGSL f16, two bytes per element. Only an engine built
   * for FP16 on a device with 'shader-f16' makes such tensors, and only for the layers whose
   * kernels declare `halfStorage`; everywhere else float16 is stored as f32.
   */
  storage?: 'f16';
}

/** The 32-bit element types every tensor may be stored as. */
export type Wgsl32BitType = 'f32' | 'i32' | 'u32';
export type WgslStorageType = Wgsl32BitType | 'f16';

/**
 * The WGSL element type a value of `dtype` is stored as on the GPU. The op-by-op executor
 * computes in float32: float16 and float64 values are stored (and computed) as f32. The
 * integer types are stored as i32, which int64 and uint64 values must fit (transfers
 * check); uint32 as u32; bool as u32 holding 0 or 1.
 */
export function storageType(dtype: DataType): Wgsl32BitType {
  switch (dtype) {
    case 'float32':
    case 'float16':
    case 'float64':
      return 'f32';
    case 'bool':
    case 'uint32':
      return 'u32';
    default:
      return 'i32';
  }
}

/** The WGSL element type `tensor` is stored as. */
export function tensorStorage(tensor: Pick<GpuTensor, 'dtype' | 'storage'>): WgslStorageType {
  return tensor.storage ?? storageType(tensor.dtype);
}

/** Bytes one element of `tensor` takes in its buffer. */
export function bytesPerElement(tensor: Pick<GpuTensor, 'dtype' | 'storage'>): number {
  return tensorStorage(tensor) === 'f16' ? 2 : 4;
}

/**
 * Bytes a buffer (or arena slice) must have for `tensor`: WebGPU sizes storage bindings in
 * multiples of 4 bytes, so an odd count of f16 elements takes one more.
 */
export function storageBytes(tensor: Pick<GpuTensor, 'dtype' | 'storage' | 'size'>): number {
  return Math.ceil((tensor.size * bytesPerElement(tensor)) / 4) * 4;
}

/** Whether the GPU computes on values of `dtype` as f32. */
export function computesAsFloat(dtype: DataType): boolean {
  return storageType(dtype) === 'f32';
}

export interface Dispatch {
  /** Shown in GPU validation errors and profiles. */
  label: string;
  /** A compute shader with entry point `main`; binding i of group 0 is `bindings[i]`. */
  code: string;
  bindings: GpuTensor[];
  workgroups: readonly [number, number?, number?];
}

/** What a kernel may do while it runs one node: allocate outputs and record dispatches. */
export interface KernelContext {
  readonly device: GPUDevice;
  /** The node being run, for errors that name it. */
  readonly node: Node;
  /**
   * The tactic the builder chose for this node, one of the names the kernel's `tactics`
   * listed; undefined for the kernel's default.
   */
  readonly tactic?: string;
  /** A new tensor in GPU memory (contents undefined until a dispatch writes them). */
  allocate(dtype: DataType, shape: readonly number[]): GpuTensor;
  dispatch(dispatch: Dispatch): void;
  /** A tensor sharing `tensor`'s buffer under another shape (Reshape, Flatten, ...). */
  view(tensor: GpuTensor, shape: readonly number[], dtype?: DataType): GpuTensor;
}

/** A generated kernel whose bindings are named, with the elements each holds. */
export interface NamedKernel<Name extends string> {
  code: string;
  workgroups: readonly [number, number?, number?];
  bindings: readonly { name: Name; elements: number }[];
}

/**
 * Dispatches `kernels` in order, each binding the tensor of its name in `tensors`; the
 * scratch binding `workspace.name` (a split K's partial sums), where a kernel has one, is
 * allocated once, of `workspace.dtype`, and shared by all of them.
 */
export function dispatchInOrder<Name extends string>(
  ctx: KernelContext,
  label: string,
  kernels: readonly NamedKernel<Name>[],
  tensors: Partial<Record<Name, GpuTensor>>,
  workspace: { name: Name; dtype: DataType }
): void {
  const scratch = kernels
    .flatMap(kernel => kernel.bindings)
    .find(binding => binding.name === workspace.name);
  const bound: Partial<Record<Name, GpuTensor>> = {
    ...tensors,
    ...(scratch && { [workspace.name]: ctx.allocate(workspace.dtype, [scratch.elements]) })
  };
  for (const kernel of kernels) {
    ctx.dispatch({
      label,
      code: kernel.code,
      bindings: kernel.bindings.map(({ name }) => bound[name]!),
      workgroups: kernel.workgroups
    });
  }
}
