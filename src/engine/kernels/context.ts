import { DataType } from '../ir/dtype';

/**
 * A tensor in GPU memory. `dtype` is the ONNX type the value has; its storage on the
 * GPU is 32 bits per element: f32 for float32, i32 for the integer types (values must
 * fit), u32 (0 or 1) for bool. See `storageType`.
 */
export interface GpuTensor {
  dtype: DataType;
  shape: readonly number[];
  size: number;
  buffer: GPUBuffer;
}

export type WgslStorageType = 'f32' | 'i32' | 'u32';

/** The WGSL element type a value of `dtype` is stored as, or undefined if none is. */
export function storageType(dtype: DataType): WgslStorageType | undefined {
  switch (dtype) {
    case 'float32':
      return 'f32';
    case 'bool':
      return 'u32';
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'int64':
      return 'i32';
    default:
      return undefined;
  }
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
  /** A new tensor in GPU memory (contents undefined until a dispatch writes them). */
  allocate(dtype: DataType, shape: readonly number[]): GpuTensor;
  dispatch(dispatch: Dispatch): void;
  /** A tensor sharing `tensor`'s buffer under another shape (Reshape, Flatten, ...). */
  view(tensor: GpuTensor, shape: readonly number[], dtype?: DataType): GpuTensor;
}
