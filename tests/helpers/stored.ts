/**
 * Test tensors as kernels hold them: the bytes to upload and read back, for the kernel
 * tests that run generated shaders on buffers of their own.
 */
import assert from 'node:assert/strict';
import { float16BitsToNumber, numberToFloat16Bits } from '../../src/engine/ir/dtype';
import { Tensor } from '../../src/engine/ir/tensor';

/** How float tensors are held: f32, float16 values in f32 storage, or native f16. */
export type Storage = 'f32' | 'float16 in f32' | 'f16';

/** What a kernel case adds after the product: a bias, a residual, an activation. */
export interface Epilogue {
  bias?: boolean;
  residual?: boolean;
  activation?: [string, number[]];
}

/** `t`'s bytes as the kernel reads them: int8 one per i32, float16 as u16 in native f16 storage, else f32. */
export function encodeStored(t: Tensor, storage: Storage): ArrayBufferView {
  const values = t.toNumbers();
  if (t.dtype === 'int8') {
    return Int32Array.from(values);
  }
  return storage === 'f16' && t.dtype === 'float16'
    ? Uint16Array.from(values, numberToFloat16Bits)
    : Float32Array.from(values);
}

/** The first `size` float values of `bytes`, held in `storage`. */
export function decodeStored(bytes: ArrayBuffer, size: number, storage: Storage): number[] {
  return storage === 'f16'
    ? Array.from(new Uint16Array(bytes, 0, size), float16BitsToNumber)
    : Array.from(new Float32Array(bytes, 0, size));
}

/** Fails on the first value that float16 cannot hold: float16 outputs in f32 storage are rounded. */
export function assertFloat16Values(values: readonly number[]): void {
  const unrounded = values.findIndex(v => float16BitsToNumber(numberToFloat16Bits(v)) !== v);
  assert.equal(unrounded, -1, `Y[${unrounded}] = ${values[unrounded]} is not a float16 value`);
}
