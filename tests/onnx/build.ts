import { onnx } from 'onnx-proto';

/** Small ONNX models built in the tests, encoded with the same protobuf code the importer uses. */

const ELEM_TYPES = { float32: 1, int64: 7, bool: 9, float16: 10 } as const;

/** A tensor ValueInfoProto; a string dim is a dim_param, null a dim with neither field. */
export function tensorInfo(
  name: string,
  elemType: keyof typeof ELEM_TYPES | number,
  dims?: (number | string | null)[]
): onnx.IValueInfoProto {
  const shape = dims && {
    dim: dims.map(d =>
      d === null ? {} : typeof d === 'string' ? { dimParam: d } : { dimValue: d }
    )
  };
  const code = typeof elemType === 'number' ? elemType : ELEM_TYPES[elemType];
  return { name, type: { tensorType: { elemType: code, shape } } };
}

/** A float32 TensorProto with its values in raw_data, as exporters write them. */
export function rawFloatTensor(name: string, dims: number[], values: number[]): onnx.ITensorProto {
  const rawData = new Uint8Array(Float32Array.from(values).buffer);
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData };
}

export function encodeModel(
  graph: onnx.IGraphProto,
  opsetImport: onnx.IOperatorSetIdProto[] = [{ domain: '', version: 17 }]
): Uint8Array {
  return onnx.ModelProto.encode({ irVersion: 8, opsetImport, graph }).finish();
}

/** A model whose only output is the initializer `tensor`: the smallest home for a tensor. */
export function modelWithInitializer(tensor: onnx.ITensorProto): Uint8Array {
  return encodeModel({
    name: 'holder',
    initializer: [tensor],
    output: [tensorInfo(tensor.name ?? '', tensor.dataType ?? 0)]
  });
}
