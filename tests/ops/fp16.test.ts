/**
 * The FP16 variants (halfStorage) of the elementwise, layout, shape, pool, resize and reduce
 * kernels: each op as the one FP16 layer of an engine, against the CPU reference on the same
 * float16 values. On SwiftShader float16 is stored as f32 (kernels round as they store);
 * where the device has 'shader-f16' the same cases run in f16 storage.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { Tensor } from '../../src/engine/ir/tensor';
import { checkKernel, NodeCase, singleNodeGraph } from '../helpers/compare';
import { UNTUNED, testDevice } from '../helpers/gpu';
import { checkHalfKernel } from '../helpers/half';
import { randomTensor } from '../helpers/random';

const x = (shape: number[], seed = 1) => randomTensor(shape, { seed });
const int64 = (values: number[]) => Tensor.fromNumbers('int64', [values.length], values);
const floats = (values: number[]) => Tensor.fromNumbers('float32', [values.length], values);

const CASES: Record<string, NodeCase[]> = {
  elementwise: [
    { opType: 'Add', inputs: [x([2, 3, 4]), x([4], 2)] },
    { opType: 'Mul', inputs: [x([2, 1, 5]), x([3, 1], 3)] },
    { opType: 'Sigmoid', inputs: [x([3, 7])] },
    { opType: 'Pow', inputs: [randomTensor([2, 5], { low: 0.5, high: 2 }), x([5], 4)] },
    {
      opType: 'Where',
      inputs: [Tensor.fromNumbers('bool', [2, 3], [1, 0, 1, 1, 0, 0]), x([2, 3]), x([3], 5)]
    },
    {
      opType: 'Clip',
      inputs: [x([4, 6]), Tensor.scalar('float32', -0.5), Tensor.scalar('float32', 0.75)],
      constants: [1, 2]
    }
  ],
  layout: [
    { opType: 'Transpose', inputs: [x([2, 3, 5])], attributes: { perm: [2, 0, 1] } },
    { opType: 'Concat', inputs: [x([2, 3]), x([2, 4], 2)], attributes: { axis: 1 } },
    { opType: 'Split', inputs: [x([2, 6])], attributes: { axis: 1 }, outputs: 2 },
    {
      opType: 'Slice',
      inputs: [x([4, 6]), int64([1, 0]), int64([4, 6]), int64([0, 1]), int64([1, 2])],
      constants: [1, 2, 3, 4]
    },
    {
      opType: 'Pad',
      inputs: [x([2, 3]), int64([0, 1, 1, 2]), Tensor.scalar('float32', 0.3)],
      constants: [1, 2]
    },
    {
      opType: 'Gather',
      inputs: [x([5, 3]), Tensor.fromNumbers('int64', [2, 2], [4, 0, -1, 2])],
      constants: [1]
    },
    {
      opType: 'GatherElements',
      inputs: [x([3, 4]), Tensor.fromNumbers('int64', [2, 4], [0, 2, 1, 0, 2, 2, 0, 1])],
      constants: [1],
      attributes: { axis: 0 }
    },
    { opType: 'DepthToSpace', inputs: [x([1, 8, 2, 3])], attributes: { blocksize: 2 } },
    { opType: 'Tile', inputs: [x([2, 3]), int64([2, 1])], constants: [1] }
  ],
  shape: [
    { opType: 'Reshape', inputs: [x([2, 3, 4]), int64([4, 6])], constants: [1] },
    { opType: 'Flatten', inputs: [x([2, 3, 4])], attributes: { axis: 1 } },
    { opType: 'Expand', inputs: [x([3, 1]), int64([2, 3, 4])], constants: [1] }
  ],
  pool: [
    {
      opType: 'MaxPool',
      inputs: [x([1, 2, 6, 7])],
      attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }
    },
    {
      opType: 'AveragePool',
      inputs: [x([1, 2, 6, 7])],
      attributes: { kernel_shape: [2, 3], pads: [0, 1, 0, 1], count_include_pad: 1 }
    },
    { opType: 'GlobalAveragePool', inputs: [x([2, 3, 9, 11])] },
    { opType: 'GlobalMaxPool', inputs: [x([2, 3, 9, 11])] }
  ],
  resize: [
    {
      opType: 'Resize',
      inputs: [x([1, 2, 3, 4]), undefined, floats([1, 1, 2, 1.5])],
      attributes: { mode: 'linear' },
      constants: [2],
      opset: 13
    },
    {
      opType: 'Resize',
      inputs: [x([1, 2, 3, 4]), undefined, floats([1, 1, 2, 2])],
      attributes: { mode: 'nearest' },
      constants: [2],
      opset: 13
    }
  ],
  reduce: [
    { opType: 'ReduceMean', inputs: [x([3, 4, 5])], attributes: { axes: [1] } },
    { opType: 'ReduceSum', inputs: [x([3, 4, 5]), int64([0, 2])], constants: [1] },
    // Shifted by the row's largest element, which it reads in f32 from float16 storage.
    { opType: 'ReduceLogSumExp', inputs: [x([3, 4, 5])], attributes: { axes: [2] } }
  ]
};

for (const [family, cases] of Object.entries(CASES)) {
  describe(`FP16 ${family} kernels`, () => {
    for (const c of cases) {
      const what = c.attributes ? ` ${JSON.stringify(c.attributes)}` : '';
      test(`${c.opType}${what}`, async () => {
        await checkHalfKernel(c);
      });
    }
  });
}

test('float16 results round to nearest, ties to even, keeping subnormals, as the reference does', async () => {
  const ulp = 2 ** -10;
  const values = [
    1 + 0.75 * ulp, // up
    1 + 0.5 * ulp, // tie to the even 1
    1 + 1.5 * ulp, // tie to the even 1 + 2 ulp
    -(1 + 0.75 * ulp),
    2047.75, // carries into the exponent: 2048
    65519, // the largest float16, 65504
    65520, // overflows
    1e-6, // subnormal float16
    3e-8, // rounds up to the smallest subnormal
    NaN
  ];
  await checkKernel(
    {
      opType: 'Cast',
      inputs: [Tensor.fromNumbers('float32', [values.length], values)],
      attributes: { to: 10 }
    },
    0
  );
});

test('an FP16 engine stores float16 tensors in two bytes each; runs only with shader-f16', async t => {
  const device = await testDevice();
  if (!device.features.has('shader-f16')) {
    t.skip('needs shader-f16 (SwiftShader has none: float16 is stored as f32 there)');
    return;
  }
  // Two float16 tensors of 2 * 3 * 5 elements each in the arenas, between the reformats.
  const graph = singleNodeGraph({ opType: 'Sigmoid', inputs: [x([2, 3, 5])] });
  const engine = await build(graph, { ...UNTUNED, precision: 'fp16' }, device);
  try {
    const float16Bytes = engine.graph.nodes.length === 3 ? 2 * 30 * 2 : NaN;
    const float32Bytes = 30 * 4;
    assert.equal(engine.memory.sumBytes, float16Bytes + float32Bytes);
  } finally {
    engine.destroy();
  }
});
