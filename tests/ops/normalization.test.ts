import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { create } from 'webgpu';
import { Tensor } from '../../src/engine/ir/tensor';
import { NativeExecutor } from '../../src/engine/runtime/native';
import { runReference } from '../../src/engine/runtime/reference';
import { assertClose, checkKernel, feedsOf, NodeCase, singleNodeGraph } from '../helpers/compare';
import { testDevice } from '../helpers/gpu';
import { checkHalfKernel } from '../helpers/half';
import { checkConformance, conformanceSkip, NODE_TESTS_DIR } from '../helpers/conformance-case';
import { inferNode } from '../helpers/infer-node';
import { randomTensor } from '../helpers/random';

const floats = (shape: number[], values: number[]) => Tensor.fromNumbers('float32', shape, values);

function assertNear(actual: Tensor, expected: number[], tolerance = 1e-6): void {
  const values = actual.toNumbers();
  assert.equal(values.length, expected.length);
  values.forEach((v, i) =>
    assert.ok(Math.abs(v - expected[i]) <= tolerance, `element ${i}: ${v}, expected ${expected[i]}`)
  );
}

/** Sums of `t` over consecutive blocks of `block` elements. */
function blockSums(t: Tensor, block: number): number[] {
  const values = t.toNumbers();
  return Array.from({ length: values.length / block }, (_, b) =>
    values.slice(b * block, (b + 1) * block).reduce((s, v) => s + v, 0)
  );
}

// --- Softmax, LogSoftmax, Hardmax ---------------------------------------------------------

for (const opType of ['Softmax', 'LogSoftmax', 'Hardmax']) {
  test(`${opType} along every axis, before and from opset 13`, async () => {
    for (const opset of [11, 13]) {
      for (const axis of [undefined, 0, 1, -1]) {
        await checkKernel({
          opType,
          inputs: [randomTensor([2, 3, 4], { low: -4, high: 4 })],
          attributes: axis === undefined ? {} : { axis },
          opset
        });
      }
    }
  });
}

test('Softmax before opset 13 normalizes the coerced 2-D rows, from 13 one axis', async () => {
  const x = randomTensor([2, 3, 4]);
  const [coerced] = await checkKernel({ opType: 'Softmax', inputs: [x], opset: 11 });
  // Default axis 1: each batch's 12 elements form one row.
  assertNear(floats([2], blockSums(coerced, 12)), [1, 1], 1e-6);
  const [lastAxis] = await checkKernel({ opType: 'Softmax', inputs: [x], opset: 13 });
  assertNear(floats([6], blockSums(lastAxis, 4)), [1, 1, 1, 1, 1, 1], 1e-6);
  const [middle] = await checkKernel({
    opType: 'Softmax',
    inputs: [x],
    attributes: { axis: 1 },
    opset: 13
  });
  const m = middle.toNumbers();
  for (let b = 0; b < 2; b++) {
    for (let k = 0; k < 4; k++) {
      const sum = m[b * 12 + k] + m[b * 12 + 4 + k] + m[b * 12 + 8 + k];
      assert.ok(Math.abs(sum - 1) < 1e-6);
    }
  }
});

test('Softmax and LogSoftmax of [-1, 0, 1] (ONNX test_softmax_example)', async () => {
  const x = floats([1, 3], [-1, 0, 1]);
  const [softmax] = await checkKernel({ opType: 'Softmax', inputs: [x] });
  assertNear(softmax, [0.09003057, 0.24472846, 0.66524094]);
  const [logSoftmax] = await checkKernel({ opType: 'LogSoftmax', inputs: [x] });
  assertNear(logSoftmax, [-2.4076061, -1.407606, -0.407606]);
});

test('Softmax subtracts the row max: large inputs do not overflow', async () => {
  const x = floats([2, 4], [1000, 1001, 1002, 1003, -1000, -1001, -1002, -1003]);
  const expected = [0.0320586, 0.08714432, 0.23688282, 0.64391426];
  const [y] = await checkKernel({ opType: 'Softmax', inputs: [x] });
  assertNear(y, [...expected, ...expected.reverse()]);
  await checkKernel({ opType: 'LogSoftmax', inputs: [x] });
});

test('Softmax over a long row', async () => {
  await checkKernel({
    opType: 'Softmax',
    inputs: [randomTensor([3, 3000], { low: -20, high: 20 })]
  });
});

test('Hardmax marks the first of tied maxima', async () => {
  const x = floats([3, 4], [3, 0, 1, 2, 2, 5, 5, 0, 1, 1, 1, 1]);
  for (const opset of [11, 13]) {
    const [y] = await checkKernel({ opType: 'Hardmax', inputs: [x], opset });
    assert.deepEqual(Array.from(y.toNumbers()), [1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0]);
  }
});

test('softmax shape inference keeps the shape and checks the axis', () => {
  const x = { dtype: 'float32' as const, shape: ['batch', 12, 'seq', 'seq'] };
  assert.deepEqual(inferNode('Softmax', [x])[0].shape, ['batch', 12, 'seq', 'seq']);
  assert.equal(inferNode('LogSoftmax', [{ dtype: 'float32' }])[0].shape, undefined);
  assert.throws(() => inferNode('Softmax', [x], { axis: 4 }), /out of range/);
});

// --- LayerNormalization -----------------------------------------------------------------

test('LayerNormalization for every axis, with Mean and InvStdDev', async () => {
  const x = randomTensor([2, 3, 4]);
  for (const axis of [0, 1, 2, -1, -2]) {
    const normalized = x.shape.slice(axis < 0 ? axis + 3 : axis);
    const [y, mean, invStdDev] = await checkKernel({
      opType: 'LayerNormalization',
      inputs: [x, randomTensor(normalized, { seed: 2 }), randomTensor(normalized, { seed: 3 })],
      attributes: { axis, epsilon: 1e-3 },
      outputs: 3
    });
    assert.deepEqual(y.shape, [2, 3, 4]);
    assert.deepEqual(mean.shape, invStdDev.shape);
    assert.deepEqual(
      mean.shape,
      [2, 3, 4].map((d, i) => (i < (axis + 3) % 3 ? d : 1))
    );
  }
});

test('LayerNormalization with broadcast Scale and B, and without B', async () => {
  const x = randomTensor([2, 5, 8]);
  await checkKernel({
    opType: 'LayerNormalization',
    inputs: [x, randomTensor([8], { seed: 2 }), randomTensor([1, 8], { seed: 3 })],
    attributes: { axis: 1 }
  });
  await checkKernel({
    opType: 'LayerNormalization',
    inputs: [x, randomTensor([8], { seed: 2 })],
    outputs: 3
  });
  await assert.rejects(
    checkKernel({
      opType: 'LayerNormalization',
      inputs: [x, randomTensor([5], { seed: 2 })]
    }),
    /Scale of shape \[5\] does not broadcast to \[8\]/
  );
});

test('LayerNormalization of [1, 2, 3, 4] by hand', async () => {
  const [y, mean, invStdDev] = await checkKernel({
    opType: 'LayerNormalization',
    inputs: [floats([1, 4], [1, 2, 3, 4]), floats([4], [1, 1, 2, 2]), floats([4], [0, 0, 0, 1])],
    attributes: { epsilon: 0 },
    outputs: 3
  });
  const inverse = 1 / Math.sqrt(1.25);
  assertNear(mean, [2.5]);
  assertNear(invStdDev, [inverse]);
  assertNear(y, [-1.5 * inverse, -0.5 * inverse, inverse, 3 * inverse + 1]);
});

test('LayerNormalization declines a stash_type it does not carry', () => {
  const x = { dtype: 'float32' as const, shape: [2, 3] };
  assert.throws(
    () => inferNode('LayerNormalization', [x, x], { stash_type: 16 }),
    (error: Error) =>
      error.name === 'UnsupportedOpError' &&
      /stash_type BFLOAT16 is not supported/.test(error.message)
  );
});

test('LayerNormalization shape inference: symbolic statistics shapes', () => {
  const x = { dtype: 'float32' as const, shape: ['batch', 'seq', 768] };
  const scale = { dtype: 'float32' as const, shape: [768] };
  const [y, mean, invStdDev] = inferNode('LayerNormalization', [x, scale], {}, { outputs: 3 });
  assert.deepEqual(y.shape, ['batch', 'seq', 768]);
  assert.deepEqual(mean, { dtype: 'float32', shape: ['batch', 'seq', 1] });
  assert.deepEqual(invStdDev.shape, ['batch', 'seq', 1]);
  const [, axis0] = inferNode('LayerNormalization', [x, scale], { axis: -3 }, { outputs: 2 });
  assert.deepEqual(axis0.shape, [1, 1, 1]);
});

// --- InstanceNormalization ---------------------------------------------------------------

test('InstanceNormalization on 3-D and 4-D inputs', async () => {
  for (const shape of [
    [2, 3, 7],
    [2, 3, 4, 5]
  ]) {
    await checkKernel({
      opType: 'InstanceNormalization',
      inputs: [randomTensor(shape), randomTensor([3], { seed: 2 }), randomTensor([3], { seed: 3 })],
      attributes: { epsilon: 1e-3 }
    });
  }
});

test('InstanceNormalization by hand (ONNX test_instancenorm_example)', async () => {
  const [y] = await checkKernel({
    opType: 'InstanceNormalization',
    inputs: [floats([1, 2, 1, 3], [-1, 0, 1, 2, 3, 4]), floats([2], [1, 1.5]), floats([2], [0, 1])]
  });
  assertNear(y, [-1.2247356, 0, 1.2247356, -0.8371035, 1, 2.8371034]);
});

// --- BatchNormalization -------------------------------------------------------------------

function batchNormInputs(shape: number[], parameterShape = [shape[1]]): Tensor[] {
  return [
    randomTensor(shape),
    randomTensor(parameterShape, { seed: 2 }),
    randomTensor(parameterShape, { seed: 3 }),
    randomTensor(parameterShape, { seed: 4 }),
    randomTensor(parameterShape, { seed: 5, low: 0.1, high: 2 })
  ];
}

test('BatchNormalization at inference on 2-D and 4-D inputs', async () => {
  for (const shape of [
    [4, 3],
    [2, 3, 4, 5]
  ]) {
    for (const opset of [9, 15]) {
      await checkKernel({
        opType: 'BatchNormalization',
        inputs: batchNormInputs(shape),
        attributes: { epsilon: 1e-3 },
        opset
      });
    }
  }
});

test('BatchNormalization with per-element parameters (spatial = 0, opset 7)', async () => {
  await checkKernel({
    opType: 'BatchNormalization',
    inputs: batchNormInputs([2, 3, 4], [3, 4]),
    attributes: { spatial: 0 },
    opset: 7
  });
});

test('BatchNormalization by hand: (x - mean) / sqrt(var + epsilon) * scale + B', async () => {
  const [y] = await checkKernel({
    opType: 'BatchNormalization',
    inputs: [
      floats([1, 2, 2], [1, 2, 3, 4]),
      floats([2], [2, 0.5]),
      floats([2], [1, -1]),
      floats([2], [1, 3]),
      floats([2], [4, 0.25])
    ],
    attributes: { epsilon: 0 },
    opset: 15
  });
  assertNear(y, [1, 2, -1, 0]);
});

test('BatchNormalization in training mode is declined', async () => {
  await assert.rejects(
    checkKernel({
      opType: 'BatchNormalization',
      inputs: batchNormInputs([2, 3]),
      attributes: { training_mode: 1 },
      opset: 15
    }),
    /training mode is not supported/
  );
  await assert.rejects(
    checkKernel({ opType: 'BatchNormalization', inputs: batchNormInputs([2, 3]), opset: 6 }),
    /training mode is not supported/
  );
  await assert.rejects(
    checkKernel({
      opType: 'BatchNormalization',
      inputs: batchNormInputs([2, 3]),
      outputs: 3,
      opset: 9
    }),
    /outputs beyond Y .* are not supported/
  );
  await checkKernel({
    opType: 'BatchNormalization',
    inputs: batchNormInputs([2, 3]),
    attributes: { is_test: 1 },
    opset: 6
  });
});

// --- row-block kernels: reduction paths, row lengths, row counts, float16 ---------------

/** The row ops on the one-workgroup-per-row kernels, each on a small random case. */
const ROW_BLOCK_CASES: NodeCase[] = [
  { opType: 'Softmax', inputs: [randomTensor([3, 5, 40], { low: -6, high: 6 })] },
  {
    opType: 'LogSoftmax',
    inputs: [randomTensor([2, 7, 3], { low: -6, high: 6 })],
    attributes: { axis: 1 }
  },
  {
    opType: 'LayerNormalization',
    inputs: [
      randomTensor([3, 4, 24]),
      randomTensor([24], { seed: 2 }),
      randomTensor([24], { seed: 3 })
    ]
  },
  {
    opType: 'InstanceNormalization',
    inputs: [
      randomTensor([2, 3, 5, 6]),
      randomTensor([3], { seed: 2 }),
      randomTensor([3], { seed: 3 })
    ]
  }
];

let plainGpu: GPU | undefined;

/** A device without 'subgroups', as a browser gives one on adapters that lack them. */
async function deviceWithoutSubgroups(): Promise<GPUDevice> {
  await testDevice(); // loads Dawn and installs its WebGPU globals
  plainGpu ??= create([]);
  const adapter = await plainGpu.requestAdapter();
  assert.ok(adapter);
  const device = await adapter.requestDevice();
  assert.ok(!device.features.has('subgroups'));
  return device;
}

test('row kernels reduce with subgroups where the device has them, in workgroup memory elsewhere', async () => {
  assert.ok((await testDevice()).features.has('subgroups'), 'the test device has no subgroups');
  const plain = await deviceWithoutSubgroups();
  try {
    // LayerNormalization's Mean and InvStdDev too (float32 statistics keep it an FP32 layer).
    const statistics = { ...ROW_BLOCK_CASES[2], outputs: 3 };
    for (const c of [...ROW_BLOCK_CASES, statistics]) {
      await checkKernel(c);
      const graph = singleNodeGraph(c);
      const feeds = feedsOf(c);
      const expected = runReference(graph, feeds);
      const { outputs, placements } = await new NativeExecutor(plain).run(graph, feeds);
      assert.equal(placements[0].device, 'webgpu');
      for (const { name } of graph.outputs) {
        assertClose(outputs[name], expected[name], 1e-5, `${c.opType} ${name} without subgroups`);
      }
    }
  } finally {
    plain.destroy();
  }
});

test('rows longer than the registers hold are streamed; short rows; more rows than a grid row', async () => {
  await checkKernel({ opType: 'Softmax', inputs: [randomTensor([2, 4500], { low: -9, high: 9 })] });
  await checkKernel({
    opType: 'LayerNormalization',
    inputs: [randomTensor([2, 4500]), randomTensor([4500], { seed: 2 })],
    outputs: 3
  });
  await checkKernel({ opType: 'LogSoftmax', inputs: [randomTensor([5, 1])] });
  await checkKernel({
    opType: 'Softmax',
    inputs: [randomTensor([65600, 2], { low: -4, high: 4 })]
  });
});

test('row kernels on float16 tensors: statistics in f32, outputs rounded once', async () => {
  for (const c of ROW_BLOCK_CASES) {
    await checkHalfKernel(c);
  }
});

// --- conformance --------------------------------------------------------------------------

const CONFORMANCE_PATTERN =
  /^test_(softmax|logsoftmax|hardmax|layer_normalization|instancenorm|batchnorm)_(?!.*(_expanded|_training_mode)$)/;

test(
  'ONNX conformance cases of the normalizations pass on the reference',
  { skip: conformanceSkip('test_softmax_example') },
  () => {
    const names = readdirSync(NODE_TESTS_DIR).filter(name => CONFORMANCE_PATTERN.test(name));
    assert.ok(names.length > 40, `only ${names.length} cases`);
    for (const name of names) {
      checkConformance(name);
    }
  }
);
