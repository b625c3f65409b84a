import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DataType } from '../../src/engine/ir/dtype';
import { Tensor } from '../../src/engine/ir/tensor';
import { checkKernel, NodeCase, reference, values } from '../helpers/compare';
import { inferNode } from '../helpers/infer-node';
import { randomTensor } from '../helpers/random';

const f32 = (shape: number[], data: number[]) => Tensor.fromNumbers('float32', shape, data);

/**
 * Random values on a grid of 1/8: divided by a scale of 0.25 half of them land exactly on
 * .5, the ties that rounding half to even decides. Wide enough to saturate 8-bit types.
 */
function withTies(shape: number[], seed: number): Tensor {
  const x = randomTensor(shape, { low: -50, high: 50, seed });
  return f32(
    shape,
    Array.from(x.toNumbers(), v => Math.round(v * 8) / 8 || 0.125)
  );
}

/** Random integers of `dtype` within its range, never zero. */
function randomIntegers(shape: number[], dtype: DataType, low: number, high: number, seed = 7) {
  return randomTensor(shape, { dtype, low, high, seed });
}

// The kernels compute exactly what the reference does (integers, or one f32 rounding).
const EXACT = 0;

describe('QuantizeLinear kernel matches the CPU reference', () => {
  const x = withTies([2, 3, 4], 1);
  const cases: [string, NodeCase][] = [
    [
      'per tensor, int8, ties and saturation',
      {
        opType: 'QuantizeLinear',
        inputs: [x, f32([], [0.25]), Tensor.scalar('int8', -3)],
        opset: 13
      }
    ],
    [
      'per tensor, default uint8 zero point',
      { opType: 'QuantizeLinear', inputs: [x, f32([], [0.25])], opset: 10 }
    ],
    [
      'per tensor, uint8, a scale that is no power of two, given as constants',
      {
        opType: 'QuantizeLinear',
        inputs: [
          randomTensor([5, 7], { low: -30, high: 30 }),
          f32([], [0.137]),
          Tensor.scalar('uint8', 128)
        ],
        constants: [1, 2],
        opset: 13
      }
    ],
    [
      'per axis -1, int8',
      {
        opType: 'QuantizeLinear',
        inputs: [
          x,
          f32([4], [0.25, 0.5, 0.3, 0.07]),
          Tensor.fromNumbers('int8', [4], [-5, 0, 7, 1])
        ],
        attributes: { axis: -1 },
        opset: 13
      }
    ],
    [
      'per axis -2, uint8',
      {
        opType: 'QuantizeLinear',
        inputs: [x, f32([3], [0.25, 0.11, 0.5]), Tensor.fromNumbers('uint8', [3], [3, 128, 250])],
        attributes: { axis: -2 },
        opset: 13
      }
    ],
    [
      'per block of 3 along axis 2 (a remainder block), int16',
      {
        opType: 'QuantizeLinear',
        inputs: [
          randomTensor([2, 3, 4], { low: -9000, high: 9000 }),
          randomTensor([2, 3, 2], { low: 0.05, high: 0.4, seed: 3 }),
          randomIntegers([2, 3, 2], 'int16', -100, 100)
        ],
        attributes: { axis: 2, block_size: 3 },
        opset: 21
      }
    ],
    [
      'uint16 from output_dtype, no zero point',
      {
        opType: 'QuantizeLinear',
        inputs: [randomTensor([3, 5], { low: -100, high: 20000 }), f32([], [0.25])],
        attributes: { output_dtype: 4 },
        opset: 21
      }
    ],
    [
      'float16 input and scale: the division rounds to float16',
      {
        opType: 'QuantizeLinear',
        inputs: [
          Tensor.fromNumbers('float16', [2, 3, 4], x.toNumbers()),
          Tensor.fromNumbers('float16', [3], [0.3, 0.11, 0.7]),
          Tensor.fromNumbers('int8', [3], [1, -2, 3])
        ],
        opset: 19
      }
    ],
    [
      'int32 input',
      {
        opType: 'QuantizeLinear',
        inputs: [randomIntegers([4, 6], 'int32', -500, 500), f32([], [2])],
        opset: 13
      }
    ]
  ];
  for (const [name, c] of cases) {
    test(name, async () => {
      await checkKernel(c, EXACT);
    });
  }

  test('the inputs do hit ties and both ends of the range', () => {
    const [y] = reference(cases[0][1]);
    const quotients = Array.from(x.toNumbers(), v => v / 0.25);
    assert.ok(quotients.some(q => Math.abs(q % 1) === 0.5));
    assert.ok(values(y).includes(127) && values(y).includes(-128));
  });
});

describe('DequantizeLinear kernel matches the CPU reference', () => {
  const int8 = randomIntegers([2, 3, 4], 'int8', -128, 128);
  const uint8 = randomIntegers([2, 3, 4], 'uint8', 0, 256);
  const cases: [string, NodeCase][] = [
    [
      'per tensor, int8',
      {
        opType: 'DequantizeLinear',
        inputs: [int8, f32([], [0.037]), Tensor.scalar('int8', 5)],
        opset: 13
      }
    ],
    [
      'per tensor, uint8 without zero point, as constants',
      {
        opType: 'DequantizeLinear',
        inputs: [uint8, f32([], [0.021])],
        constants: [0, 1],
        opset: 10
      }
    ],
    [
      'per axis -1, uint8',
      {
        opType: 'DequantizeLinear',
        inputs: [
          uint8,
          f32([4], [0.1, 0.02, 0.3, 1.7]),
          Tensor.fromNumbers('uint8', [4], [128, 3, 200, 1])
        ],
        attributes: { axis: -1 },
        opset: 13
      }
    ],
    [
      'per axis -3, int8',
      {
        opType: 'DequantizeLinear',
        inputs: [int8, f32([2], [0.5, 0.013]), Tensor.fromNumbers('int8', [2], [-7, 9])],
        attributes: { axis: -3 },
        opset: 13
      }
    ],
    [
      'per block of 2 along axis 1, int16',
      {
        opType: 'DequantizeLinear',
        inputs: [
          randomIntegers([2, 3, 4], 'int16', -30000, 30000),
          randomTensor([2, 2, 4], { low: 0.001, high: 0.01, seed: 5 }),
          randomIntegers([2, 2, 4], 'int16', -50, 50)
        ],
        attributes: { axis: 1, block_size: 2 },
        opset: 21
      }
    ],
    [
      'float16 scale gives float16',
      {
        opType: 'DequantizeLinear',
        inputs: [
          int8,
          Tensor.fromNumbers('float16', [3], [0.3, 0.011, 7]),
          Tensor.fromNumbers('int8', [3], [1, 0, -1])
        ],
        opset: 19
      }
    ],
    [
      'int32 input',
      {
        opType: 'DequantizeLinear',
        inputs: [randomIntegers([3, 4], 'int32', -100000, 100000), f32([], [0.0003])],
        opset: 13
      }
    ]
  ];
  for (const [name, c] of cases) {
    test(name, async () => {
      await checkKernel(c, EXACT);
    });
  }
});

describe('the CPU reference against values computed by hand', () => {
  test('QuantizeLinear rounds half to even and saturates to uint8', () => {
    const [y] = reference({
      opType: 'QuantizeLinear',
      inputs: [f32([8], [2.5, 3.5, -0.5, 0.5, 1.5, -1.5, 300, -7]), f32([], [1])],
      opset: 13
    });
    assert.equal(y.dtype, 'uint8');
    assert.deepEqual(values(y), [2, 4, 0, 0, 2, 0, 255, 0]);
  });

  test('QuantizeLinear adds the zero point after rounding and saturates to int8', () => {
    const [y] = reference({
      opType: 'QuantizeLinear',
      inputs: [
        f32([6], [1.25, 1.75, -0.25, -1.25, 100, -100]),
        f32([], [0.5]),
        Tensor.scalar('int8', -1)
      ],
      opset: 13
    });
    assert.equal(y.dtype, 'int8');
    // 2.5 -> 2, 3.5 -> 4, -0.5 -> 0, -2.5 -> -2, then -1; 199 and -201 saturate.
    assert.deepEqual(values(y), [1, 3, -1, -3, 127, -128]);
  });

  test('QuantizeLinear per axis: each row its scale and zero point', () => {
    const [y] = reference({
      opType: 'QuantizeLinear',
      inputs: [
        f32([2, 3], [1, 2, 3, 4, 5, 6]),
        f32([2], [1, 2]),
        Tensor.fromNumbers('uint8', [2], [0, 10])
      ],
      attributes: { axis: 0 },
      opset: 13
    });
    assert.deepEqual(values(y), [1, 2, 3, 12, 12, 13]);
  });

  test('QuantizeLinear per block: the last block is short', () => {
    const [y] = reference({
      opType: 'QuantizeLinear',
      inputs: [
        f32([1, 5], [1, 2, 3, 4, 5]),
        f32([1, 2], [1, 0.5]),
        Tensor.fromNumbers('int8', [1, 2], [0, 1])
      ],
      attributes: { axis: 1, block_size: 3 },
      opset: 21
    });
    assert.deepEqual(values(y), [1, 2, 3, 9, 11]);
  });

  test('DequantizeLinear subtracts the zero point and scales', () => {
    const [y] = reference({
      opType: 'DequantizeLinear',
      inputs: [
        Tensor.fromNumbers('int8', [3], [-128, 0, 127]),
        f32([], [0.5]),
        Tensor.scalar('int8', 3)
      ],
      opset: 13
    });
    assert.equal(y.dtype, 'float32');
    assert.deepEqual(values(y), [-65.5, -1.5, 62]);
  });

  test('DequantizeLinear per axis', () => {
    const [y] = reference({
      opType: 'DequantizeLinear',
      inputs: [
        Tensor.fromNumbers('uint8', [2, 2], [10, 20, 10, 20]),
        f32([2], [0.5, 2]),
        Tensor.fromNumbers('uint8', [2], [10, 0])
      ],
      attributes: { axis: -1 },
      opset: 13
    });
    assert.deepEqual(values(y), [0, 40, 0, 40]);
  });

  test('DynamicQuantizeLinear: scale and zero point from the range, which holds 0', () => {
    const [y, scale, zeroPoint] = reference({
      opType: 'DynamicQuantizeLinear',
      inputs: [f32([4], [1, 2, 3, 0.5])],
      outputs: 3,
      opset: 11
    });
    assert.equal(scale.toNumbers()[0], Math.fround(3 / 255));
    assert.deepEqual(values(zeroPoint), [0]);
    assert.deepEqual(values(y), [85, 170, 255, 42]);

    const [shifted, , negativeZeroPoint] = reference({
      opType: 'DynamicQuantizeLinear',
      inputs: [f32([3], [-2.55, 0, 2.55])],
      outputs: 3,
      opset: 11
    });
    assert.deepEqual(values(negativeZeroPoint), [128]);
    assert.deepEqual(values(shifted), [0, 128, 255]);
  });

  test('DynamicQuantizeLinear of zeros: scale 1/255', () => {
    const [y, scale, zeroPoint] = reference({
      opType: 'DynamicQuantizeLinear',
      inputs: [f32([2], [0, 0])],
      outputs: 3,
      opset: 11
    });
    assert.equal(scale.toNumbers()[0], Math.fround(1 / 255));
    assert.deepEqual([...values(y), ...values(zeroPoint)], [0, 0, 0]);
  });
});

describe('shape inference', () => {
  test('symbolic dims carry through, with the output type of each opset', () => {
    const x = { dtype: 'float32' as const, shape: ['batch', 3, 'h'] };
    const scale = { dtype: 'float32' as const, shape: [3] };
    const zeroPoint = { dtype: 'int8' as const, shape: [3] };
    assert.deepEqual(inferNode('QuantizeLinear', [x, scale, zeroPoint], {}, { opset: 13 }), [
      { dtype: 'int8', shape: ['batch', 3, 'h'] }
    ]);
    assert.deepEqual(inferNode('QuantizeLinear', [x, { dtype: 'float32', shape: [] }]), [
      { dtype: 'uint8', shape: ['batch', 3, 'h'] }
    ]);
    const q = { dtype: 'uint8' as const, shape: ['n', 'c'] };
    const half = { dtype: 'float16' as const, shape: ['c'] };
    assert.deepEqual(inferNode('DequantizeLinear', [q, half], { axis: 1 }, { opset: 19 }), [
      { dtype: 'float16', shape: ['n', 'c'] }
    ]);
    assert.deepEqual(
      inferNode('DequantizeLinear', [q, { dtype: 'float32', shape: [null] }], {}, { opset: 13 }),
      [{ dtype: 'float32', shape: ['n', 'c'] }]
    );
    assert.deepEqual(inferNode('DequantizeLinear', [{ dtype: 'int8' }, { dtype: 'float32' }]), [
      { dtype: 'float32', shape: undefined }
    ]);
    assert.deepEqual(
      inferNode(
        'DynamicQuantizeLinear',
        [{ dtype: 'float32', shape: ['batch', 4] }],
        {},
        {
          outputs: 3
        }
      ),
      [
        { dtype: 'uint8', shape: ['batch', 4] },
        { dtype: 'float32', shape: [] },
        { dtype: 'uint8', shape: [] }
      ]
    );
  });
});

describe('bad inputs are refused with the reason', () => {
  const x = { dtype: 'float32' as const, shape: [2, 3] };
  const scale = (shape: number[]) => ({ dtype: 'float32' as const, shape });
  const quantize =
    (inputs: Parameters<typeof inferNode>[1], attributes = {}, opset = 13) =>
    () =>
      inferNode('QuantizeLinear', inputs, attributes, { opset });

  test('a scale of rank 2 is not per axis', () => {
    assert.throws(
      quantize([x, scale([2, 3])]),
      /y_scale must be a scalar or 1-D \(per axis\), got rank 2/
    );
  });
  test('axis out of range', () => {
    assert.throws(
      quantize([x, scale([3])], { axis: 2 }),
      /axis 2 is out of range for an input of rank 2/
    );
    assert.throws(quantize([x, scale([3])], { axis: -3 }), /axis -3 is out of range/);
  });
  test('a scale of the wrong length for its axis', () => {
    assert.throws(
      quantize([x, scale([2])], { axis: 1 }),
      /has 2 elements but the input has 3 along axis 1/
    );
  });
  test('a zero point of another shape than the scale', () => {
    assert.throws(
      quantize([x, scale([3]), { dtype: 'uint8', shape: [2] }]),
      /zero point shape \[2\] differs from y_scale shape \[3\]/
    );
  });
  test('per axis before opset 13', () => {
    assert.throws(quantize([x, scale([3])], {}, 10), /must be a scalar before opset 13/);
  });
  test('blocks that do not tile the input', () => {
    assert.throws(
      quantize([x, scale([2, 3])], { axis: 1, block_size: 2 }, 21),
      /does not block input shape \[2, 3\] by 2 along axis 1 \(expected \[2, 2\]\)/
    );
  });
  test('a zero point of a type that is not quantized', () => {
    assert.throws(
      quantize([x, scale([]), { dtype: 'int32', shape: [] }]),
      /y_zero_point must be int8 or uint8, got int32/
    );
    assert.throws(
      quantize([x, scale([]), { dtype: 'int16', shape: [] }]),
      /must be int8 or uint8, got int16/
    );
  });
  test('DequantizeLinear zero point of another type than x', () => {
    assert.throws(
      () =>
        inferNode('DequantizeLinear', [
          { dtype: 'int8', shape: [2] },
          scale([]),
          { dtype: 'uint8', shape: [] }
        ]),
      /x_zero_point is uint8 but x is int8/
    );
  });
  const declines = (name: RegExp) => (error: Error) =>
    error.name === 'UnsupportedOpError' && name.test(error.message);
  test('float8 and int4 outputs are declined, naming the type', () => {
    assert.throws(quantize([x, scale([])], { output_dtype: 17 }, 21), declines(/FLOAT8E4M3FN/));
    assert.throws(quantize([x, scale([])], { output_dtype: 22 }, 21), declines(/INT4/));
  });
});
