import * as ort from 'onnxruntime-node';
import { allocateTypedArray, DataType, TypedArray } from '../../src/engine/ir/dtype';
import { Tensor } from '../../src/engine/ir/tensor';

/**
 * ONNX Runtime's element type names for ours. Host storage is the same on both sides
 * (float16 as raw bits in a Uint16Array, bool as one byte, int64 as BigInt64Array), so
 * tensors cross without converting elements.
 */
const ORT_TYPES: Readonly<Record<DataType, ort.Tensor.Type>> = {
  float32: 'float32',
  float16: 'float16',
  float64: 'float64',
  int8: 'int8',
  uint8: 'uint8',
  int16: 'int16',
  int32: 'int32',
  int64: 'int64',
  uint16: 'uint16',
  uint32: 'uint32',
  uint64: 'uint64',
  bool: 'bool'
};

const DATA_TYPES = new Map<string, DataType>(
  Object.entries(ORT_TYPES).map(([ours, theirs]) => [theirs, ours as DataType])
);

export function toOrtTensor(tensor: Tensor): ort.Tensor {
  // ORT_TYPES pairs each dtype with the type name whose storage our Tensor already uses.
  return new ort.Tensor(ORT_TYPES[tensor.dtype], tensor.data as ort.Tensor.DataType, [
    ...tensor.shape
  ]);
}

export function fromOrtTensor(tensor: ort.Tensor, name = 'tensor'): Tensor {
  const dtype = DATA_TYPES.get(tensor.type);
  if (!dtype) {
    throw new Error(`ONNX Runtime returned ${name} of type ${tensor.type}, which we do not carry`);
  }
  const shape = tensor.dims.map(Number);
  const data = tensor.data;
  const storage = allocateTypedArray(dtype, 0).constructor;
  if (!(data instanceof storage)) {
    // float16 comes back as a Float16Array where the runtime has one: convert by value.
    return Tensor.fromNumbers(dtype, shape, data as ArrayLike<number>);
  }
  // The output may view memory that ONNX Runtime reuses; a Tensor owns a copy.
  return new Tensor(dtype, shape, (data as TypedArray).slice());
}

/** Runs a model once on ONNX Runtime's CPU provider; returns every graph output by name. */
export async function runOnnxRuntime(
  model: Uint8Array,
  feeds: Record<string, Tensor>
): Promise<Record<string, Tensor>> {
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) {
      ortFeeds[name] = toOrtTensor(tensor);
    }
    const results = await session.run(ortFeeds);
    const outputs: Record<string, Tensor> = {};
    for (const name of session.outputNames) {
      outputs[name] = fromOrtTensor(results[name], `output '${name}'`);
    }
    return outputs;
  } finally {
    await session.release();
  }
}
