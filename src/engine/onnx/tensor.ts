import { onnx } from 'onnx-proto';
import {
  allocateTypedArray,
  bytesPerElement,
  DataType,
  dataTypeFromOnnx,
  isBigInt,
  onnxTypeName,
  TypedArray,
  typedArrayFromBytes
} from '../ir/dtype';
import { Tensor } from '../ir/tensor';
import { decodeProto, located } from './errors';
import { Int64, int64ToBigInt, int64ToNumber } from './int64';

/** The TensorProto field that holds each type's elements when raw_data is not used. */
const TYPED_FIELDS: Record<
  DataType,
  'floatData' | 'int32Data' | 'int64Data' | 'doubleData' | 'uint64Data'
> = {
  float32: 'floatData',
  float16: 'int32Data',
  int8: 'int32Data',
  uint8: 'int32Data',
  int16: 'int32Data',
  uint16: 'int32Data',
  int32: 'int32Data',
  bool: 'int32Data',
  int64: 'int64Data',
  uint32: 'uint64Data',
  uint64: 'uint64Data',
  float64: 'doubleData'
};

/** ONNX's snake_case names of the fields, for messages. */
const FIELD_NAMES: Record<(typeof TYPED_FIELDS)[DataType], string> = {
  floatData: 'float_data',
  int32Data: 'int32_data',
  int64Data: 'int64_data',
  doubleData: 'double_data',
  uint64Data: 'uint64_data'
};

/**
 * Converts a TensorProto (an initializer, a Constant's value, a test-data .pb) to a host
 * tensor. `where` (a file, a node) prefixes error messages.
 */
export function tensorFromProto(proto: onnx.ITensorProto, where: string): Tensor {
  const label = located(where, proto.name ? `tensor '${proto.name}'` : 'tensor');
  const fail = (reason: string) => new Error(`${label} ${reason}`);

  if (proto.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const location = proto.externalData?.find(entry => entry.key === 'location')?.value;
    const file = location ? ` '${location}'` : '';
    throw fail(`keeps its data in an external file${file}, which is not supported`);
  }
  if (proto.segment) {
    throw fail('is split into segments, which is not supported');
  }
  const code = proto.dataType ?? 0;
  const dtype = dataTypeFromOnnx(code);
  if (!dtype) {
    throw fail(`has element type ${onnxTypeName(code)}, which is not supported`);
  }
  const shape = (proto.dims ?? []).map(int64ToNumber);
  const shapeText = `[${shape.join(', ')}]`;
  if (shape.some(d => d < 0)) {
    throw fail(`has a negative dimension in its shape ${shapeText}`);
  }
  const size = shape.reduce((product, d) => product * d, 1);
  if (!Number.isSafeInteger(size)) {
    throw fail(`has too many elements for its shape ${shapeText}`);
  }

  const raw = proto.rawData;
  if (raw && raw.length > 0) {
    const needed = size * bytesPerElement(dtype);
    if (raw.length !== needed) {
      throw fail(
        `holds ${raw.length} bytes of raw_data, but its shape ${shapeText} of ${dtype} needs ${needed}`
      );
    }
    return new Tensor(dtype, shape, typedArrayFromBytes(dtype, raw, size));
  }
  const field = TYPED_FIELDS[dtype];
  const values: readonly Int64[] = proto[field] ?? [];
  if (values.length !== size) {
    throw fail(
      `has ${values.length} values in ${FIELD_NAMES[field]}, but its shape ${shapeText} needs ${size}`
    );
  }
  return new Tensor(dtype, shape, typedFieldElements(dtype, values));
}

function typedFieldElements(dtype: DataType, values: readonly Int64[]): TypedArray {
  const data = allocateTypedArray(dtype, values.length);
  if (isBigInt(dtype)) {
    const wrap = dtype === 'uint64' ? BigInt.asUintN : BigInt.asIntN;
    values.forEach((v, i) => (data[i] = wrap(64, int64ToBigInt(v))));
  } else if (dtype === 'bool') {
    values.forEach((v, i) => (data[i] = int64ToNumber(v) ? 1 : 0));
  } else {
    // Narrow types (and float16's bits) sit in int32_data; the typed array keeps the low bits.
    values.forEach((v, i) => (data[i] = int64ToNumber(v)));
  }
  return data;
}

/** Decodes a serialized TensorProto, such as the conformance suite's input_N.pb files. */
export function decodeTensor(bytes: Uint8Array, where: string): { name: string; tensor: Tensor } {
  const proto = decodeProto(() => onnx.TensorProto.decode(bytes), where, 'ONNX TensorProto');
  return { name: proto.name ?? '', tensor: tensorFromProto(proto, where) };
}
