import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AttributeValue } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { checkKernel, NodeCase, reference, values } from '../helpers/compare';
import { checkEveryTactic } from '../helpers/tactics';
import { checkHalfKernel } from '../helpers/half';
import { checkConformance, conformanceSkip } from '../helpers/conformance-case';
import { inferNode } from '../helpers/infer-node';
import { randomTensor } from '../helpers/random';

let seed = 0;
/** Random non-zero values, a fresh seed each call so X, W and B differ. */
const random = (...shape: number[]) => randomTensor(shape, { seed: ++seed });

async function checkConv(
  x: number[],
  w: number[],
  attributes: Record<string, AttributeValue> = {},
  bias = true
): Promise<Tensor> {
  const inputs = [random(...x), random(...w), bias ? random(w[0]) : undefined];
  const [y] = await checkKernel({ opType: 'Conv', inputs, attributes });
  return y;
}

async function checkConvTranspose(
  x: number[],
  w: number[],
  attributes: Record<string, AttributeValue> = {},
  bias = true
): Promise<Tensor> {
  const group = (attributes.group as number | undefined) ?? 1;
  const inputs = [random(...x), random(...w), bias ? random(w[1] * group) : undefined];
  const [y] = await checkKernel({ opType: 'ConvTranspose', inputs, attributes });
  return y;
}

// --- Conv ------------------------------------------------------------------------------

test('Conv 2-D with bias and symmetric pads', async () => {
  const y = await checkConv([2, 3, 6, 5], [4, 3, 3, 3], { pads: [1, 1, 1, 1] });
  assert.deepEqual(y.shape, [2, 4, 6, 5]);
});

test('Conv 2-D without bias, kernel_shape given', async () => {
  const y = await checkConv([1, 2, 5, 5], [3, 2, 2, 3], { kernel_shape: [2, 3] }, false);
  assert.deepEqual(y.shape, [1, 3, 4, 3]);
});

test('Conv with strides and asymmetric pads', async () => {
  const y = await checkConv([1, 2, 7, 6], [3, 2, 3, 3], { strides: [2, 3], pads: [1, 0, 0, 2] });
  assert.deepEqual(y.shape, [1, 3, 3, 2]);
});

test('Conv with dilations', async () => {
  const y = await checkConv([1, 2, 7, 7], [2, 2, 3, 2], { dilations: [2, 3], pads: [1, 1, 1, 1] });
  assert.deepEqual(y.shape, [1, 2, 5, 6]);
});

test('Conv with groups', async () => {
  const y = await checkConv([1, 4, 5, 5], [6, 2, 3, 3], { group: 2, pads: [1, 1, 1, 1] });
  assert.deepEqual(y.shape, [1, 6, 5, 5]);
});

test('Conv depthwise with a channel multiplier', async () => {
  const y = await checkConv([2, 3, 6, 6], [6, 1, 3, 3], {
    group: 3,
    strides: [2, 2],
    auto_pad: 'SAME_UPPER'
  });
  assert.deepEqual(y.shape, [2, 6, 3, 3]);
});

test('Conv auto_pad SAME_UPPER and SAME_LOWER put the odd pad on opposite sides', async () => {
  // A 2-wide kernel at stride 1 needs one pad: after the input (UPPER) or before (LOWER).
  const inputs = [random(1, 1, 4, 4), random(1, 1, 2, 2)];
  const [upper] = await checkKernel({
    opType: 'Conv',
    inputs,
    attributes: { auto_pad: 'SAME_UPPER' }
  });
  const [lower] = await checkKernel({
    opType: 'Conv',
    inputs,
    attributes: { auto_pad: 'SAME_LOWER' }
  });
  assert.deepEqual(upper.shape, [1, 1, 4, 4]);
  assert.deepEqual(lower.shape, [1, 1, 4, 4]);
  const u = upper.toNumbers();
  const l = lower.toNumbers();
  // LOWER's output at (1, 1) reads the window UPPER's reads at (0, 0).
  assert.equal(l[5], u[0]);
  assert.notEqual(l[0], u[0]);
});

test('Conv auto_pad SAME_LOWER with strides', async () => {
  const y = await checkConv([1, 2, 7, 6], [2, 2, 3, 4], {
    auto_pad: 'SAME_LOWER',
    strides: [2, 2]
  });
  assert.deepEqual(y.shape, [1, 2, 4, 3]);
});

test('Conv auto_pad VALID ignores pads', async () => {
  const y = await checkConv([1, 2, 7, 6], [2, 2, 3, 3], {
    auto_pad: 'VALID',
    strides: [2, 1]
  });
  assert.deepEqual(y.shape, [1, 2, 3, 4]);
});

test('Conv 1-D', async () => {
  const y = await checkConv([2, 3, 9], [4, 3, 3], { strides: [2], pads: [2, 1], dilations: [2] });
  assert.deepEqual(y.shape, [2, 4, 4]);
});

test('Conv 3-D', async () => {
  const y = await checkConv([1, 2, 4, 5, 3], [3, 2, 2, 3, 2], { pads: [1, 0, 1, 0, 1, 0] });
  assert.deepEqual(y.shape, [1, 3, 4, 4, 3]);
});

test('Conv shape inference carries the symbolic batch and checks channels', () => {
  const w = random(8, 3, 3, 3);
  const [y] = inferNode('Conv', [{ dtype: 'float32', shape: ['N', 3, 32, 'W'] }, w], {
    strides: [2, 2],
    pads: [1, 1, 1, 1]
  });
  assert.deepEqual(y, { dtype: 'float32', shape: ['N', 8, 16, null] });
  const [unknown] = inferNode('Conv', [{ dtype: 'float32' }, w]);
  assert.equal(unknown.shape, undefined);
  assert.throws(
    () => inferNode('Conv', [{ dtype: 'float32', shape: ['N', 4, 8, 8] }, w]),
    /Conv_0.*X has 4 channels, W takes 3 per group × 1 groups/
  );
  assert.throws(
    () => inferNode('Conv', [{ dtype: 'float32', shape: [1, 3, 2, 2] }, w]),
    /does not fit the input of 2/
  );
});

// --- FusedConv -------------------------------------------------------------------------

interface FusedCase {
  x: number[];
  w: number[];
  attributes?: Record<string, AttributeValue>;
  bias?: boolean;
  residual?: boolean;
  activation?: [string, number[]];
  dtype?: 'float32' | 'float16';
}

/** Runs webtrt::FusedConv on the GPU against its CPU reference; returns the reference's Y. */
async function checkFusedConv(c: FusedCase): Promise<Tensor> {
  const dtype = c.dtype ?? 'float32';
  const r = (...shape: number[]) => randomTensor(shape, { seed: ++seed, dtype });
  const x = r(...c.x);
  const w = r(...c.w);
  const [y] = reference({ opType: 'Conv', inputs: [x, w], attributes: c.attributes });
  const attributes: Record<string, AttributeValue> = { ...c.attributes };
  if (c.activation) {
    attributes.activation = c.activation[0];
    attributes.activation_params = c.activation[1];
  }
  const inputs = [
    x,
    w,
    c.bias === false ? undefined : r(c.w[0]),
    c.residual ? r(...y.shape) : undefined
  ];
  // float16 outputs are rounded once by the kernel and after each step by the reference.
  const tolerance = dtype === 'float16' ? 2e-3 : 1e-5;
  const [fused] = await checkKernel(
    { opType: 'FusedConv', domain: 'webtrt', inputs, attributes },
    tolerance
  );
  return fused;
}

test('FusedConv with bias, residual and Relu', async () => {
  const y = await checkFusedConv({
    x: [2, 3, 6, 5],
    w: [4, 3, 3, 3],
    attributes: { pads: [1, 1, 1, 1] },
    residual: true,
    activation: ['Relu', []]
  });
  assert.deepEqual(y.shape, [2, 4, 6, 5]);
  assert.ok(values(y).some(v => v === 0) && values(y).some(v => v > 0));
});

test('FusedConv activations: Clip, HardSwish, Sigmoid, LeakyRelu', async () => {
  const activations: [string, number[]][] = [
    ['Clip', [0, 6]],
    ['HardSwish', []],
    ['Sigmoid', []],
    ['LeakyRelu', [0.1]]
  ];
  for (const activation of activations) {
    await checkFusedConv({
      x: [1, 4, 5, 5],
      w: [4, 2, 3, 3],
      attributes: { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] },
      activation
    });
  }
});

test('FusedConv without bias or activation, residual only', async () => {
  const y = await checkFusedConv({ x: [1, 3, 4, 4], w: [5, 3, 1, 1], bias: false, residual: true });
  assert.deepEqual(y.shape, [1, 5, 4, 4]);
});

test('FusedConv on float16 (stored as f32, rounded as float16)', async () => {
  const y = await checkFusedConv({
    x: [1, 3, 5, 5],
    w: [4, 3, 3, 3],
    attributes: { pads: [1, 1, 1, 1] },
    residual: true,
    activation: ['Relu', []],
    dtype: 'float16'
  });
  assert.equal(y.dtype, 'float16');
});

test('FusedConv reference equals the Conv, Add and activation it replaces', () => {
  const x = random(1, 2, 5, 5);
  const w = random(3, 2, 3, 3);
  const b = random(3);
  const attributes = { pads: [1, 0, 1, 0] };
  const [conv] = reference({ opType: 'Conv', inputs: [x, w, b], attributes });
  const z = random(...conv.shape);
  const [sum] = reference({ opType: 'Add', inputs: [conv, z] });
  const [clipped] = reference({
    opType: 'Clip',
    inputs: [sum],
    attributes: { min: -1, max: 1 },
    opset: 6
  });
  const [fused] = reference({
    opType: 'FusedConv',
    domain: 'webtrt',
    inputs: [x, w, b, z],
    attributes: { ...attributes, activation: 'Clip', activation_params: [-1, 1] }
  });
  assert.deepEqual(values(fused), values(clipped));
});

test('FusedConv refuses a residual of another shape and an unknown activation', () => {
  const x = random(1, 2, 4, 4);
  const w = random(3, 2, 3, 3);
  assert.throws(
    () =>
      reference({
        opType: 'FusedConv',
        domain: 'webtrt',
        inputs: [x, w, undefined, random(1, 3, 4, 4)]
      }),
    /Z must have Y's shape \[1, 3, 2, 2\], got \[1, 3, 4, 4\]/
  );
  assert.throws(
    () =>
      reference({
        opType: 'FusedConv',
        domain: 'webtrt',
        inputs: [x, w],
        attributes: { activation: 'Softmax' }
      }),
    /activation 'Softmax' is not one a layer can fuse/
  );
});

// --- FP16 layers and tactics ---------------------------------------------------------------

/** A FusedConv layer on random inputs: a residual and an activation, Conv's attributes. */
function fusedCase(x: number[], w: number[], attributes: Record<string, AttributeValue>): NodeCase {
  const [y] = reference({ opType: 'Conv', inputs: [random(...x), random(...w)], attributes });
  return {
    opType: 'FusedConv',
    domain: 'webtrt',
    inputs: [random(...x), random(...w), random(w[0]), random(...y.shape)],
    attributes: { ...attributes, activation: 'HardSwish', activation_params: [] }
  };
}

/** Long K on a 3x3 map: too few tiles to occupy a GPU, so the default splits K. */
const LONG_K = fusedCase([1, 64, 3, 3], [4, 64, 3, 3], { pads: [1, 1, 1, 1] });

test('Conv and FusedConv run as FP16 layers: pointwise, implicit GEMM, split K, depthwise', async () => {
  await checkHalfKernel({ opType: 'Conv', inputs: [random(1, 8, 4, 5), random(6, 8, 1, 1)] });
  await checkHalfKernel({
    opType: 'Conv',
    inputs: [random(2, 3, 7, 6), random(4, 3, 3, 3), random(4)],
    attributes: { strides: [2, 2], pads: [1, 1, 1, 1] }
  });
  await checkHalfKernel(LONG_K);
  await checkHalfKernel(fusedCase([1, 4, 6, 7], [8, 1, 3, 3], { group: 4, pads: [1, 1, 1, 1] }));
});

describe('tactics', () => {
  const cases: [string, NodeCase][] = [
    ['long K, split and unsplit', LONG_K],
    [
      'depthwise, each output count per invocation',
      fusedCase([1, 4, 6, 9], [4, 1, 3, 3], { group: 4, pads: [1, 1, 1, 1] })
    ]
  ];
  for (const [label, c] of cases) {
    test(`${label}: every tactic offered computes the reference in an engine that records it`, async () => {
      await checkEveryTactic(c, 2);
    });
  }
});

// --- ConvTranspose ------------------------------------------------------------------------

test('ConvTranspose 2-D with bias', async () => {
  const y = await checkConvTranspose([2, 3, 3, 4], [3, 2, 3, 2]);
  assert.deepEqual(y.shape, [2, 2, 5, 5]);
});

test('ConvTranspose with strides, pads and output_padding', async () => {
  const y = await checkConvTranspose([1, 2, 3, 3], [2, 3, 3, 3], {
    strides: [3, 2],
    pads: [1, 0, 0, 2],
    output_padding: [2, 1]
  });
  // 3 * 2 + 2 + 3 - 1 - 0 = 10, 2 * 2 + 1 + 3 - 0 - 2 = 6
  assert.deepEqual(y.shape, [1, 3, 10, 6]);
});

test('ConvTranspose with dilations and groups', async () => {
  const y = await checkConvTranspose([1, 4, 3, 3], [4, 3, 2, 2], { group: 2, dilations: [2, 1] });
  assert.deepEqual(y.shape, [1, 6, 5, 4]);
});

test('ConvTranspose with output_shape derives the pads', async () => {
  const y = await checkConvTranspose(
    [1, 1, 3, 3],
    [1, 2, 3, 3],
    { strides: [3, 2], output_shape: [10, 8] },
    false
  );
  assert.deepEqual(y.shape, [1, 2, 10, 8]);
});

test('ConvTranspose auto_pad SAME_UPPER and SAME_LOWER', async () => {
  for (const auto_pad of ['SAME_UPPER', 'SAME_LOWER']) {
    const y = await checkConvTranspose([1, 2, 3, 4], [2, 2, 3, 2], { auto_pad, strides: [2, 2] });
    assert.deepEqual(y.shape, [1, 2, 6, 8], auto_pad);
  }
});

test('ConvTranspose 1-D and 3-D', async () => {
  const y1 = await checkConvTranspose([2, 2, 4], [2, 3, 3], { strides: [2], pads: [1, 1] });
  assert.deepEqual(y1.shape, [2, 3, 7]);
  const y3 = await checkConvTranspose([1, 2, 2, 3, 2], [2, 2, 2, 2, 3], { strides: [1, 2, 1] });
  assert.deepEqual(y3.shape, [1, 2, 3, 6, 4]);
});

test('ConvTranspose shape inference', () => {
  const w = random(3, 2, 3, 3);
  const [y] = inferNode('ConvTranspose', [{ dtype: 'float32', shape: ['N', 3, 4, null] }, w], {
    strides: [2, 2],
    output_padding: [1, 1]
  });
  assert.deepEqual(y, { dtype: 'float32', shape: ['N', 2, 10, null] });
});

// --- the CPU references against the ONNX backend tests ---------------------------------------

const conformance = [
  'test_basic_conv_with_padding',
  'test_basic_conv_without_padding',
  'test_conv_with_autopad_same',
  'test_conv_with_strides_and_asymmetric_padding',
  'test_conv_with_strides_no_padding',
  'test_conv_with_strides_padding',
  'test_convtranspose',
  'test_convtranspose_1d',
  'test_convtranspose_3d',
  'test_convtranspose_autopad_same',
  'test_convtranspose_dilations',
  'test_convtranspose_kernel_shape',
  'test_convtranspose_output_shape',
  'test_convtranspose_pad',
  'test_convtranspose_pads',
  'test_convtranspose_with_kernel'
];

for (const name of conformance) {
  test(`CPU reference passes ${name}`, { skip: conformanceSkip(name) }, () => {
    checkConformance(name);
  });
}
