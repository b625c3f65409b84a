import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AttributeValue } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { checkKernel } from '../helpers/compare';
import { checkConformance, conformanceSkip } from '../helpers/conformance-case';
import { inferNode } from '../helpers/infer-node';
import { randomTensor } from '../helpers/random';

let seed = 100;

async function checkPool(
  opType: string,
  shape: number[],
  attributes: Record<string, AttributeValue> = {},
  { outputs = 1, opset = 17 } = {}
): Promise<Tensor[]> {
  const x = randomTensor(shape, { seed: ++seed });
  return checkKernel({ opType, inputs: [x], attributes, outputs, opset });
}

// --- MaxPool ---------------------------------------------------------------------------

test('MaxPool 2-D', async () => {
  const [y] = await checkPool('MaxPool', [2, 3, 6, 5], { kernel_shape: [3, 2] });
  assert.deepEqual(y.shape, [2, 3, 4, 4]);
});

test('MaxPool with strides, asymmetric pads and dilations', async () => {
  const [y] = await checkPool('MaxPool', [1, 2, 7, 8], {
    kernel_shape: [3, 3],
    strides: [2, 3],
    pads: [1, 0, 2, 1],
    dilations: [1, 2]
  });
  assert.deepEqual(y.shape, [1, 2, 4, 2]);
});

test('MaxPool ceil_mode drops a window that would start in the end padding', async () => {
  const [y] = await checkPool('MaxPool', [1, 2, 6, 7], {
    kernel_shape: [2, 3],
    strides: [2, 3],
    ceil_mode: 1
  });
  // 6: (6 - 2) / 2 + 1 = 3 windows; 7: ceil((7 - 3) / 3) + 1 = 3, the last one starting
  // at 6, inside the input, and one element wide.
  assert.deepEqual(y.shape, [1, 2, 3, 3]);
  const [dropped] = await checkPool('MaxPool', [1, 1, 5], {
    kernel_shape: [2],
    strides: [4],
    pads: [0, 3],
    ceil_mode: 1
  });
  // ceil(6 / 4) + 1 = 3, but the third window would start at 8, in the end padding.
  assert.deepEqual(dropped.shape, [1, 1, 2]);
});

test('MaxPool auto_pad SAME_UPPER, SAME_LOWER and VALID', async () => {
  const shapes: Record<string, number[]> = {
    SAME_UPPER: [1, 2, 4, 3],
    SAME_LOWER: [1, 2, 4, 3],
    VALID: [1, 2, 3, 2]
  };
  for (const [auto_pad, shape] of Object.entries(shapes)) {
    const [y] = await checkPool('MaxPool', [1, 2, 7, 5], {
      kernel_shape: [2, 2],
      strides: [2, 2],
      auto_pad
    });
    assert.deepEqual(y.shape, shape, auto_pad);
  }
});

test('MaxPool Indices, row-major and column-major, count batch and channel', async () => {
  for (const storage_order of [0, 1]) {
    const [y, indices] = await checkPool(
      'MaxPool',
      [2, 2, 5, 4],
      { kernel_shape: [2, 2], strides: [2, 1], pads: [1, 0, 0, 1], storage_order },
      { outputs: 2 }
    );
    assert.equal(indices.dtype, 'int64');
    assert.deepEqual(indices.shape, y.shape);
    // The last plane's indices lie in the last 20 elements of the input.
    const last = indices.toNumbers().slice(-y.shape[2] * y.shape[3]);
    assert.ok(
      last.every(i => i >= 60 && i < 80),
      `storage_order ${storage_order}`
    );
  }
});

test('MaxPool of 8-bit integers, with Indices', async () => {
  for (const [dtype, low, high] of [
    ['uint8', 0, 256],
    ['int8', -128, 128]
  ] as const) {
    const x = randomTensor([1, 2, 5, 6], { dtype, low, high, seed: ++seed });
    const [y, indices] = await checkKernel({
      opType: 'MaxPool',
      inputs: [x],
      attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      outputs: 2
    });
    assert.equal(y.dtype, dtype);
    assert.deepEqual(y.shape, [1, 2, 3, 3]);
    const xs = x.toNumbers();
    y.toNumbers().forEach((v, i) => assert.equal(xs[indices.toNumbers()[i]], v));
  }
});

test('MaxPool 1-D and 3-D', async () => {
  const [y1] = await checkPool('MaxPool', [2, 3, 9], { kernel_shape: [3], strides: [2] });
  assert.deepEqual(y1.shape, [2, 3, 4]);
  const [y3] = await checkPool('MaxPool', [1, 2, 4, 5, 3], {
    kernel_shape: [2, 3, 2],
    pads: [1, 1, 0, 0, 1, 1]
  });
  assert.deepEqual(y3.shape, [1, 2, 4, 5, 3]);
});

// --- AveragePool ---------------------------------------------------------------------------

test('AveragePool with pads, with and without count_include_pad', async () => {
  const x = randomTensor([1, 2, 5, 5], { seed: ++seed });
  const attributes = { kernel_shape: [3, 3], pads: [1, 1, 1, 1] };
  const [excluded] = await checkKernel({ opType: 'AveragePool', inputs: [x], attributes });
  const [included] = await checkKernel({
    opType: 'AveragePool',
    inputs: [x],
    attributes: { ...attributes, count_include_pad: 1 }
  });
  assert.deepEqual(excluded.shape, [1, 2, 5, 5]);
  // The corner window holds 4 real elements of 9: the two means differ by that ratio.
  const [e, i] = [excluded.toNumbers()[0], included.toNumbers()[0]];
  assert.ok(Math.abs(i - (e * 4) / 9) < 1e-6, `${i} vs ${e}`);
});

test('AveragePool ceil_mode with count_include_pad counts only the padded extent', async () => {
  for (const count_include_pad of [0, 1]) {
    const [y] = await checkPool('AveragePool', [1, 2, 6, 7], {
      kernel_shape: [3, 3],
      strides: [2, 2],
      pads: [1, 1, 0, 0],
      ceil_mode: 1,
      count_include_pad
    });
    assert.deepEqual(y.shape, [1, 2, 3, 4]);
  }
});

test('AveragePool auto_pad SAME_UPPER, SAME_LOWER and VALID', async () => {
  for (const auto_pad of ['SAME_UPPER', 'SAME_LOWER', 'VALID']) {
    const [y] = await checkPool('AveragePool', [1, 2, 5, 6], {
      kernel_shape: [2, 3],
      strides: [1, 2],
      auto_pad
    });
    assert.deepEqual(y.shape, auto_pad === 'VALID' ? [1, 2, 4, 2] : [1, 2, 5, 3], auto_pad);
  }
});

test('AveragePool dilations (opset 19)', async () => {
  const [y] = await checkPool(
    'AveragePool',
    [1, 2, 7, 6],
    { kernel_shape: [2, 2], dilations: [3, 2], pads: [1, 1, 1, 1], count_include_pad: 1 },
    { opset: 19 }
  );
  assert.deepEqual(y.shape, [1, 2, 6, 6]);
});

test('AveragePool 1-D and 3-D', async () => {
  const [y1] = await checkPool('AveragePool', [2, 3, 8], { kernel_shape: [3], pads: [1, 1] });
  assert.deepEqual(y1.shape, [2, 3, 8]);
  const [y3] = await checkPool('AveragePool', [1, 2, 4, 4, 3], {
    kernel_shape: [2, 2, 2],
    strides: [2, 2, 1]
  });
  assert.deepEqual(y3.shape, [1, 2, 2, 2, 2]);
});

// --- global pools ----------------------------------------------------------------------

test('GlobalMaxPool and GlobalAveragePool, 1-D to 3-D', async () => {
  for (const shape of [
    [2, 3, 7],
    [2, 3, 5, 6],
    [1, 2, 3, 4, 2],
    // Planes larger than a workgroup and not a multiple of it (every invocation strides,
    // halves combine the partial results), and planes of one element (most invocations idle).
    [2, 3, 13, 17],
    [1, 70, 1, 1]
  ]) {
    for (const opType of ['GlobalMaxPool', 'GlobalAveragePool']) {
      const [y] = await checkPool(opType, shape);
      assert.deepEqual(y.shape, [...shape.slice(0, 2), ...shape.slice(2).map(() => 1)]);
    }
  }
});

// --- shape inference ---------------------------------------------------------------------

test('pool shape inference keeps batch and channel dims, symbolic or not', () => {
  const [y, indices] = inferNode(
    'MaxPool',
    [{ dtype: 'float32', shape: ['N', 'C', 9, 'W'] }],
    { kernel_shape: [3, 3], strides: [2, 2] },
    { outputs: 2 }
  );
  assert.deepEqual(y, { dtype: 'float32', shape: ['N', 'C', 4, null] });
  assert.deepEqual(indices, { dtype: 'int64', shape: ['N', 'C', 4, null] });
  const [global] = inferNode('GlobalAveragePool', [{ dtype: 'float32', shape: ['N', 8, 7, 7] }]);
  assert.deepEqual(global.shape, ['N', 8, 1, 1]);
  const [unknown] = inferNode('AveragePool', [{ dtype: 'float32' }], { kernel_shape: [2, 2] });
  assert.equal(unknown.shape, undefined);
  assert.throws(
    () => inferNode('MaxPool', [{ dtype: 'float32', shape: [1, 1, 4, 4] }], {}),
    /MaxPool_0.*attribute 'kernel_shape' is required/
  );
});

// --- the CPU reference against the ONNX backend tests ---------------------------------------

const conformance = [
  'test_maxpool_1d_default',
  'test_maxpool_2d_ceil',
  'test_maxpool_2d_default',
  'test_maxpool_2d_dilations',
  'test_maxpool_2d_pads',
  'test_maxpool_2d_precomputed_pads',
  'test_maxpool_2d_precomputed_same_upper',
  'test_maxpool_2d_precomputed_strides',
  'test_maxpool_2d_same_lower',
  'test_maxpool_2d_same_upper',
  'test_maxpool_2d_strides',
  'test_maxpool_2d_uint8',
  'test_maxpool_3d_default',
  'test_maxpool_with_argmax_2d_precomputed_pads',
  'test_maxpool_with_argmax_2d_precomputed_strides',
  'test_averagepool_1d_default',
  'test_averagepool_2d_ceil',
  'test_averagepool_2d_default',
  'test_averagepool_2d_pads',
  'test_averagepool_2d_pads_count_include_pad',
  'test_averagepool_2d_precomputed_pads',
  'test_averagepool_2d_precomputed_pads_count_include_pad',
  'test_averagepool_2d_precomputed_same_upper',
  'test_averagepool_2d_precomputed_strides',
  'test_averagepool_2d_same_lower',
  'test_averagepool_2d_same_upper',
  'test_averagepool_2d_strides',
  'test_averagepool_3d_default',
  'test_globalaveragepool',
  'test_globalaveragepool_precomputed',
  'test_globalmaxpool',
  'test_globalmaxpool_precomputed'
];

for (const name of conformance) {
  test(`CPU reference passes ${name}`, { skip: conformanceSkip(name) }, () => {
    checkConformance(name);
  });
}
