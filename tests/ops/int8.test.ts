import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DataType } from '../../src/engine/ir/dtype';
import { AttributeValue } from '../../src/engine/ir/graph';
import { GpuTensor } from '../../src/engine/kernels/context';
import { Tensor } from '../../src/engine/ir/tensor';
import { findOp } from '../../src/engine/ops/registry';
import { assertClose, checkKernel, NodeCase, reference, values } from '../helpers/compare';
import { checkHalfKernel, HALF_KERNEL_TOLERANCE } from '../helpers/half';
import { inferNode } from '../helpers/infer-node';
import { randomTensor } from '../helpers/random';
import { checkEveryTactic } from '../helpers/tactics';

const X_SCALE = 0.0123;

let seed = 100;

function floats(shape: number[]): Tensor {
  return randomTensor(shape, { seed: ++seed });
}

function int8Weights(shape: number[]): Tensor {
  return randomTensor(shape, { dtype: 'int8', low: -128, high: 128, seed: ++seed });
}

function scales(count: number): Tensor {
  return randomTensor([count], { low: 0.001, high: 0.02, seed: ++seed });
}

interface ConvCase {
  x: number[];
  w: number[];
  attributes?: Record<string, AttributeValue>;
  bias?: boolean;
  residual?: number[];
}

/** An Int8Conv node on random inputs; W and W_scale are constants, as the builder makes them. */
function int8Conv(c: ConvCase): NodeCase {
  return {
    opType: 'Int8Conv',
    domain: 'webtrt',
    inputs: [
      floats(c.x),
      int8Weights(c.w),
      scales(c.w[0]),
      c.bias ? floats([c.w[0]]) : undefined,
      c.residual ? floats(c.residual) : undefined
    ],
    attributes: { x_scale: X_SCALE, ...c.attributes },
    constants: [1, 2]
  };
}

/** An Int8MatMul node on random inputs; B and B_scale are constants. */
function int8MatMul(
  a: number[],
  [k, n]: number[],
  options: { bias?: boolean; residual?: boolean; attributes?: Record<string, AttributeValue> } = {}
): NodeCase {
  return {
    opType: 'Int8MatMul',
    domain: 'webtrt',
    inputs: [
      floats(a),
      int8Weights([k, n]),
      scales(n),
      options.bias ? floats([n]) : undefined,
      options.residual ? floats([...a.slice(0, -1), n]) : undefined
    ],
    attributes: { a_scale: X_SCALE, ...options.attributes },
    constants: [1, 2]
  };
}

// --- the CPU reference against an independent computation ---------------------------------

/**
 * q(x) written out: the float32 quotient, ties (a fraction of exactly one half) to the even
 * neighbour, saturated to int8.
 */
function quantizeByHand(x: number, scale: number): number {
  const quotient = Math.fround(x / Math.fround(scale));
  const below = Math.floor(quotient);
  const fraction = quotient - below;
  const nearest =
    fraction > 0.5 ? below + 1 : fraction < 0.5 ? below : below % 2 === 0 ? below : below + 1;
  return Math.min(127, Math.max(-128, nearest));
}

/** `values` times a per-channel scale, channels along `axis` of `shape`, in float64. */
function scaledPerChannel(t: Tensor, scale: Tensor, axis: number): Tensor {
  const inner = t.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const s = scale.toNumbers();
  const scaled = Array.from(t.toNumbers(), (v, i) => v * s[Math.floor(i / inner) % t.shape[axis]]);
  return Tensor.fromNumbers('float64', t.shape, scaled);
}

function dequantizedInput(x: Tensor, scale: number): Tensor {
  const dequantized = Array.from(x.toNumbers(), v => quantizeByHand(v, scale) * Math.fround(scale));
  return Tensor.fromNumbers('float64', x.shape, dequantized);
}

/** The float64 tensor of `t`'s values. */
function asFloat64(t: Tensor | undefined): Tensor | undefined {
  return t && Tensor.fromNumbers('float64', t.shape, t.toNumbers());
}

describe('Int8 CPU references', () => {
  test('Int8MatMul by hand: ties to even, saturation, bias', () => {
    const [y] = reference({
      opType: 'Int8MatMul',
      domain: 'webtrt',
      // 1.25 / 0.5 = 2.5 -> 2, -0.75 / 0.5 = -1.5 -> -2, 100 / 0.5 = 200 -> 127.
      inputs: [
        Tensor.fromNumbers('float32', [1, 3], [1.25, -0.75, 100]),
        Tensor.fromNumbers('int8', [3, 1], [1, 2, -1]),
        Tensor.fromNumbers('float32', [1], [0.25]),
        Tensor.fromNumbers('float32', [1], [1])
      ],
      attributes: { a_scale: 0.5 }
    });
    // 0.5 * 0.25 * (2 * 1 - 2 * 2 - 127) + 1
    assert.deepEqual(values(y), [0.125 * -129 + 1]);
  });

  test('Int8Conv equals FusedConv on dequantized X and W (groups, stride, pads, dilation)', () => {
    const c = int8Conv({
      x: [2, 6, 7, 6],
      w: [4, 3, 3, 2],
      attributes: {
        group: 2,
        strides: [2, 1],
        pads: [1, 0, 1, 1],
        dilations: [1, 2],
        activation: 'LeakyRelu',
        activation_params: [0.1]
      },
      bias: true,
      residual: [2, 4, 4, 5]
    });
    const [x, w, wScale, bias, residual] = c.inputs;
    const [actual] = reference(c);
    const { x_scale: _, ...fusedAttributes } = c.attributes!;
    const [expected] = reference({
      opType: 'FusedConv',
      domain: 'webtrt',
      inputs: [
        dequantizedInput(x!, X_SCALE),
        scaledPerChannel(w!, wScale!, 0),
        asFloat64(bias),
        asFloat64(residual)
      ],
      attributes: fusedAttributes
    });
    assertClose(actual, Tensor.fromNumbers('float32', expected.shape, expected.toNumbers()), 1e-6);
  });

  test('Int8MatMul equals FusedMatMul on dequantized A and B (batch dims, Relu)', () => {
    const c = int8MatMul([2, 3, 4, 9], [9, 5], {
      bias: true,
      residual: true,
      attributes: { activation: 'Relu' }
    });
    const [a, b, bScale, bias, residual] = c.inputs;
    const [actual] = reference(c);
    const [expected] = reference({
      opType: 'FusedMatMul',
      domain: 'webtrt',
      inputs: [
        dequantizedInput(a!, X_SCALE),
        scaledPerChannel(b!, bScale!, 1),
        asFloat64(bias),
        asFloat64(residual)
      ],
      attributes: { activation: 'Relu' }
    });
    assertClose(actual, Tensor.fromNumbers('float32', expected.shape, expected.toNumbers()), 1e-6);
  });

  test('Y has X float16 type, rounded once', () => {
    const c = int8MatMul([3, 8], [8, 4], { bias: true });
    const half = Tensor.fromNumbers('float16', [3, 8], c.inputs[0]!.toNumbers());
    const [y] = reference({ ...c, inputs: [half, ...c.inputs.slice(1)] });
    assert.equal(y.dtype, 'float16');
  });
});

// --- the WebGPU kernels against the CPU reference ---------------------------------------------

describe('Int8Conv on the GPU', () => {
  const cases: [string, ConvCase][] = [
    ['1x1, bias', { x: [2, 8, 5, 3], w: [6, 8, 1, 1], bias: true }],
    [
      '3x3 stride 2 pad 1, K not a multiple of 4, residual and Clip',
      {
        x: [1, 5, 9, 7],
        w: [6, 5, 3, 3],
        attributes: {
          strides: [2, 2],
          pads: [1, 1, 1, 1],
          activation: 'Clip',
          activation_params: [-0.5, 0.5]
        },
        residual: [1, 6, 5, 4]
      }
    ],
    [
      'grouped, dilated, asymmetric pads, bias and residual',
      {
        x: [2, 6, 8, 7],
        w: [8, 3, 3, 2],
        attributes: { group: 2, dilations: [2, 2], pads: [2, 1, 0, 2] },
        bias: true,
        residual: [2, 8, 6, 8]
      }
    ],
    [
      'SAME_UPPER auto_pad',
      { x: [1, 4, 6, 5], w: [4, 4, 3, 3], attributes: { auto_pad: 'SAME_UPPER' } }
    ],
    ['long K (K split)', { x: [1, 64, 3, 3], w: [4, 64, 3, 3], attributes: { pads: [1, 1, 1, 1] } }]
  ];
  for (const [label, c] of cases) {
    test(label, async () => {
      await checkKernel(int8Conv(c));
    });
  }

  test('every tactic the tuner times computes the reference', async () => {
    await checkEveryTactic(
      int8Conv({ x: [1, 8, 8, 8], w: [32, 8, 3, 3], attributes: { pads: [1, 1, 1, 1] } }),
      3
    );
  });

  test('an FP16 engine runs it on float16 tensors', async () => {
    await checkHalfKernel(
      int8Conv({
        x: [1, 5, 6, 6],
        w: [8, 5, 3, 3],
        attributes: { pads: [1, 1, 1, 1], activation: 'Relu' },
        bias: true,
        residual: [1, 8, 6, 6]
      }),
      HALF_KERNEL_TOLERANCE,
      'int8'
    );
  });
});

describe('Int8MatMul on the GPU', () => {
  test('2-D, bias', async () => {
    await checkKernel(int8MatMul([9, 20], [20, 11], { bias: true }));
  });

  test('batch dims, K odd, residual and Sigmoid', async () => {
    await checkKernel(
      int8MatMul([2, 3, 5, 13], [13, 6], { residual: true, attributes: { activation: 'Sigmoid' } })
    );
  });

  test('long K (K split), bias and residual', async () => {
    await checkKernel(int8MatMul([4, 600], [600, 8], { bias: true, residual: true }));
  });

  test('an FP16 engine runs it on float16 tensors', async () => {
    await checkHalfKernel(
      int8MatMul([2, 6, 12], [12, 10], { bias: true, residual: true }),
      HALF_KERNEL_TOLERANCE,
      'int8'
    );
  });
});

// --- shape inference, attributes, declined layers ------------------------------------------

describe('Int8 tactics by builder optimization level', () => {
  // An adapter like the H100: one subgroup size, i8 x i8 -> i32 16x16x32 matrices.
  const limits = {
    maxComputeInvocationsPerWorkgroup: 1024,
    maxComputeWorkgroupSizeX: 1024,
    maxComputeWorkgroupSizeY: 1024,
    maxComputeWorkgroupStorageSize: 49152
  } as GPUSupportedLimits;
  const device = {
    features: new Set(['chromium-experimental-subgroup-matrix']),
    limits,
    adapterInfo: {
      subgroupMinSize: 32,
      subgroupMaxSize: 32,
      subgroupMatrixConfigs: [
        { componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 }
      ]
    }
  } as unknown as GPUDevice;
  // Tactics read only shapes: these tensors have no memory.
  const tensor = (dtype: DataType, shape: number[]): GpuTensor => ({
    dtype,
    shape,
    size: shape.reduce((a, b) => a * b, 1),
    buffer: {} as GPUBuffer
  });
  const inputs = [
    tensor('float32', [256, 512]),
    tensor('int8', [512, 256]),
    tensor('float32', [256])
  ];
  const kernel = findOp('Int8MatMul', 'webtrt')!.webgpu!;
  const tactics = (level?: number) => kernel.tactics!(inputs, {}, limits, device, level);
  const matrices = (names: string[]) => names.filter(name => name.includes('subgroup matrix'));

  test('subgroup matrix tactics are timed from level 4, dp4a ones at every level', () => {
    for (const level of [0, 1, 2, 3]) {
      assert.deepEqual(matrices(tactics(level)), [], `level ${level}`);
    }
    for (const level of [4, 5]) {
      assert.ok(matrices(tactics(level)).length > 0, `level ${level}`);
      assert.deepEqual(
        tactics(level).filter(name => !name.includes('subgroup matrix')),
        tactics(3),
        `level ${level}`
      );
    }
  });

  test("without a level every tactic is offered, so any plan's tactic still loads", () => {
    assert.deepEqual(tactics(), tactics(5));
  });
});

describe('Int8 shape inference and checks', () => {
  const weights = (shape: number[]) => int8Weights(shape);

  test('Int8Conv: symbolic batch, known channels and points', () => {
    const [y] = inferNode(
      'Int8Conv',
      [{ dtype: 'float16', shape: ['N', 4, 8, 8] }, weights([6, 4, 3, 3]), scales(6)],
      { x_scale: 0.1, strides: [2, 2], pads: [1, 1, 1, 1] },
      { domain: 'webtrt' }
    );
    assert.deepEqual(y, { dtype: 'float16', shape: ['N', 6, 4, 4] });
  });

  test('Int8Conv: unknown X shape gives an unknown Y shape', () => {
    const [y] = inferNode(
      'Int8Conv',
      [{ dtype: 'float32' }, weights([6, 4, 3, 3]), scales(6)],
      { x_scale: 0.1 },
      { domain: 'webtrt' }
    );
    assert.deepEqual(y, { dtype: 'float32', shape: undefined });
  });

  test('Int8MatMul: batch dims carried through, symbols kept', () => {
    const [y] = inferNode(
      'Int8MatMul',
      [{ dtype: 'float32', shape: ['B', 'S', 12] }, weights([12, 5]), scales(5)],
      { a_scale: 0.1 },
      { domain: 'webtrt' }
    );
    assert.deepEqual(y, { dtype: 'float32', shape: ['B', 'S', 5] });
  });

  const refusals: [
    string,
    string,
    Parameters<typeof inferNode>[1],
    Record<string, AttributeValue>,
    RegExp
  ][] = [
    [
      'float weights',
      'Int8Conv',
      [{ dtype: 'float32', shape: [1, 4, 8, 8] }, floats([6, 4, 3, 3]), scales(6)],
      { x_scale: 0.1 },
      /W must be int8, got float32/
    ],
    [
      'a scale per channel missing',
      'Int8Conv',
      [{ dtype: 'float32', shape: [1, 4, 8, 8] }, weights([6, 4, 3, 3]), scales(5)],
      { x_scale: 0.1 },
      /W_scale must be a vector of 6/
    ],
    [
      'no x_scale',
      'Int8Conv',
      [{ dtype: 'float32', shape: [1, 4, 8, 8] }, weights([6, 4, 3, 3]), scales(6)],
      {},
      /x_scale.*required/
    ],
    [
      'a negative a_scale',
      'Int8MatMul',
      [{ dtype: 'float32', shape: [3, 12] }, weights([12, 5]), scales(5)],
      { a_scale: -1 },
      /a_scale.*must be positive/
    ],
    [
      'inner dims that differ',
      'Int8MatMul',
      [{ dtype: 'float32', shape: [3, 11] }, weights([12, 5]), scales(5)],
      { a_scale: 0.1 },
      /inner dimensions differ/
    ],
    [
      'a bias of the wrong length',
      'Int8MatMul',
      [{ dtype: 'float32', shape: [3, 12] }, weights([12, 5]), scales(5), floats([4])],
      { a_scale: 0.1 },
      /bias must be a vector of 5/
    ]
  ];
  for (const [label, opType, inputs, attributes, message] of refusals) {
    test(`${opType} refuses ${label}, naming the node`, () => {
      assert.throws(
        () => inferNode(opType, inputs, attributes, { domain: 'webtrt' }),
        (error: Error) => error.message.includes(`${opType}_0`) && message.test(error.message)
      );
    });
  }

  test('the kernel declines depthwise convolutions and non-int8 weights', () => {
    const kernel = findOp('Int8Conv', 'webtrt')!.webgpu!;
    const attrs = { window: { autoPad: 'NOTSET' }, group: 8, xScale: 0.1 };
    const dtypes = ['float32', 'int8', 'float32'] as const;
    assert.equal(
      kernel.unsupported!([...dtypes], attrs, [[1, 8, 9, 9], [8, 1, 3, 3], [8]]),
      'depthwise: INT8 is not faster here'
    );
    assert.equal(kernel.unsupported!([...dtypes], attrs, [[1, 16, 9, 9], [8, 2, 3, 3], [8]]), null);
    assert.equal(kernel.unsupported!([...dtypes], { ...attrs, group: 1 }), null);
    assert.match(kernel.unsupported!(['float32', 'float32', 'float32'], attrs)!, /not int8/);
  });
});
