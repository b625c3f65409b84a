import {
  allocateTypedArray,
  DataType,
  float16BitsToNumber,
  isBigInt,
  numberToFloat16Bits,
  TypedArray
} from './dtype';

/** The number of elements of a concrete shape (1 for a scalar). */
export function sizeOf(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) {
    size *= d;
  }
  return size;
}

/** Row-major strides of a concrete shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

/**
 * A tensor held on the host: a concrete shape and its elements in row-major order.
 * int64 / uint64 are BigInt arrays and float16 is raw bits (see dtype.ts); use
 * `toNumbers` / `Tensor.fromNumbers` to work on values without caring about storage.
 */
export class Tensor {
  readonly dtype: DataType;
  readonly shape: readonly number[];
  readonly data: TypedArray;

  constructor(dtype: DataType, shape: readonly number[], data?: TypedArray) {
    const size = sizeOf(shape);
    if (shape.some(d => !Number.isInteger(d) || d < 0)) {
      throw new Error(`invalid tensor shape [${shape.join(', ')}]`);
    }
    if (data && data.length !== size) {
      throw new Error(
        `tensor of shape [${shape.join(', ')}] needs ${size} elements, got ${data.length}`
      );
    }
    this.dtype = dtype;
    this.shape = shape;
    this.data = data ?? allocateTypedArray(dtype, size);
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Element values as JavaScript numbers (int64 beyond 2^53 loses precision). */
  toNumbers(): Float64Array {
    const out = new Float64Array(this.size);
    const data = this.data;
    if (this.dtype === 'float16') {
      for (let i = 0; i < out.length; i++) {
        out[i] = float16BitsToNumber(data[i] as number);
      }
    } else if (isBigInt(this.dtype)) {
      for (let i = 0; i < out.length; i++) {
        out[i] = Number(data[i]);
      }
    } else {
      for (let i = 0; i < out.length; i++) {
        out[i] = data[i] as number;
      }
    }
    return out;
  }

  /** Element values as an array of integers, for shape-like tensors (axes, pads, sizes). */
  toIntegers(): number[] {
    return Array.from(this.toNumbers(), v => Math.trunc(v));
  }

  /** Builds a tensor of `dtype` from numbers, converting as a cast to that type would. */
  static fromNumbers(dtype: DataType, shape: readonly number[], values: ArrayLike<number>): Tensor {
    const tensor = new Tensor(dtype, shape);
    const data = tensor.data;
    if (values.length !== data.length) {
      throw new Error(
        `tensor of shape [${shape.join(', ')}] needs ${data.length} elements, got ${values.length}`
      );
    }
    switch (dtype) {
      case 'float16':
        for (let i = 0; i < data.length; i++) {
          data[i] = numberToFloat16Bits(values[i]);
        }
        break;
      case 'int64':
      case 'uint64':
        for (let i = 0; i < data.length; i++) {
          const v = values[i];
          (data as BigInt64Array)[i] = Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
        }
        break;
      case 'bool':
        for (let i = 0; i < data.length; i++) {
          data[i] = values[i] ? 1 : 0;
        }
        break;
      default:
        for (let i = 0; i < data.length; i++) {
          data[i] = values[i];
        }
    }
    return tensor;
  }

  static scalar(dtype: DataType, value: number): Tensor {
    return Tensor.fromNumbers(dtype, [], [value]);
  }

  /** The same elements under another shape of equal size (no copy). */
  reshape(shape: readonly number[]): Tensor {
    return new Tensor(this.dtype, shape, this.data);
  }
}
