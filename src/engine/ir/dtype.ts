/**
 * Element types the engine carries. The names are ONNX's, lower-cased; the numbers are
 * ONNX's TensorProto.DataType codes so the importer and the plan format share them.
 */
export type DataType =
  | 'float32'
  | 'float16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool';

export const ONNX_DATA_TYPE_CODES: Readonly<Record<DataType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13
};

const CODE_TO_DATA_TYPE = new Map<number, DataType>(
  Object.entries(ONNX_DATA_TYPE_CODES).map(([name, code]) => [code, name as DataType])
);

const ONNX_TYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED',
  8: 'STRING',
  14: 'COMPLEX64',
  15: 'COMPLEX128',
  16: 'BFLOAT16',
  17: 'FLOAT8E4M3FN',
  18: 'FLOAT8E4M3FNUZ',
  19: 'FLOAT8E5M2',
  20: 'FLOAT8E5M2FNUZ',
  21: 'UINT4',
  22: 'INT4'
};

/** The DataType of an ONNX code, or undefined when the engine does not carry that type. */
export function dataTypeFromOnnx(code: number): DataType | undefined {
  return CODE_TO_DATA_TYPE.get(code);
}

/** ONNX's own name of a type code, for error messages about types we do not carry. */
export function onnxTypeName(code: number): string {
  const known = dataTypeFromOnnx(code);
  return known ?? ONNX_TYPE_NAMES[code] ?? `type code ${code}`;
}

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

type TypedArrayConstructor = {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

/**
 * How each type is held in memory on the host. float16 is kept as its raw bits in a
 * Uint16Array (no Float16Array in our targets); bool as one byte per element, as ONNX does.
 */
const STORAGE: Record<DataType, TypedArrayConstructor> = {
  float32: Float32Array,
  float16: Uint16Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array
};

export function bytesPerElement(dtype: DataType): number {
  return STORAGE[dtype].BYTES_PER_ELEMENT;
}

export function allocateTypedArray(dtype: DataType, length: number): TypedArray {
  return new STORAGE[dtype](length);
}

/** A typed view over (a copy of) little-endian bytes, realigned when the offset is odd. */
export function typedArrayFromBytes(
  dtype: DataType,
  bytes: Uint8Array,
  length: number
): TypedArray {
  const ctor = STORAGE[dtype];
  // Not bytes.slice: on a Node Buffer, slice is a view into a shared pool, not a copy.
  const copy = new Uint8Array(length * ctor.BYTES_PER_ELEMENT);
  copy.set(bytes.subarray(0, copy.length));
  return new ctor(copy.buffer, 0, length);
}

export function isFloat(dtype: DataType): boolean {
  return dtype === 'float32' || dtype === 'float16' || dtype === 'float64';
}

export function isBigInt(dtype: DataType): boolean {
  return dtype === 'int64' || dtype === 'uint64';
}

export function isInteger(dtype: DataType): boolean {
  return !isFloat(dtype) && dtype !== 'bool';
}

// --- float16 bit conversions (IEEE 754 binary16, round to nearest even) ---

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) {
    return sign * fraction * 2 ** -24;
  }
  if (exponent === 0x1f) {
    return fraction ? NaN : sign * Infinity;
  }
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

export function numberToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) {
    return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  }
  let e = exponent - 127 + 15;
  if (e >= 0x1f) {
    return sign | 0x7c00;
  }
  if (e <= 0) {
    if (e < -10) {
      return sign;
    }
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) {
      half++;
    }
    return sign | half;
  }
  let half = (e << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) {
    half++;
  }
  e = half;
  return sign | e;
}
