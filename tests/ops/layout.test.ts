import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { DataType } from '../../src/engine/ir/dtype';
import { Tensor } from '../../src/engine/ir/tensor';
import { checkKernel, NodeCase, reference, values } from '../helpers/compare';
import { checkConformance, conformanceSkip, NODE_TESTS_DIR } from '../helpers/conformance-case';
import { inferNode } from '../helpers/infer-node';
import { randomTensor, seededRandom } from '../helpers/random';

const int64 = (values: (number | bigint)[]) =>
  new Tensor('int64', [values.length], BigInt64Array.from(values, BigInt));

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** 0, 1, 2, ... as a tensor, so expected outputs can be written by hand. */
function iota(shape: number[], dtype: DataType = 'float32'): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.fromNumbers(
    dtype,
    shape,
    Array.from({ length: size }, (_, i) => i)
  );
}

/** Random true / false (randomTensor never gives zero, so its bools are all true). */
function randomBools(shape: number[], seed = 1): Tensor {
  const next = seededRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.fromNumbers(
    'bool',
    shape,
    Array.from({ length: size }, () => +(next() < 0.5))
  );
}

// --- Transpose / DepthToSpace / SpaceToDepth ----------------------------------------------

test('Transpose: default (reversed) and explicit permutations', async () => {
  const x = randomTensor([2, 3, 4, 5]);
  const [reversed] = await checkKernel({ opType: 'Transpose', inputs: [x] });
  assert.deepEqual(reversed.shape, [5, 4, 3, 2]);
  for (const perm of [
    [0, 2, 1, 3],
    [3, 1, 0, 2],
    [1, 2, 3, 0]
  ]) {
    await checkKernel({ opType: 'Transpose', inputs: [x], attributes: { perm } });
  }
  const [small] = reference({ opType: 'Transpose', inputs: [iota([2, 3])] });
  assert.deepEqual(values(small), [0, 3, 1, 4, 2, 5]);
  assert.throws(
    () => reference({ opType: 'Transpose', inputs: [x], attributes: { perm: [0, 1, 1, 2] } }),
    /repeat an axis/
  );
});

test('Transpose moves int32, int64 and bool elements on the GPU', async () => {
  const inputs = [
    randomTensor([3, 4, 2], { dtype: 'int32', low: -50, high: 50 }),
    randomTensor([3, 4, 2], { dtype: 'int64', low: -50, high: 50 }),
    randomBools([3, 4, 2])
  ];
  for (const x of inputs) {
    await checkKernel({ opType: 'Transpose', inputs: [x], attributes: { perm: [2, 0, 1] } });
  }
});

test('DepthToSpace (DCR and CRD) and SpaceToDepth', async () => {
  const x = randomTensor([2, 8, 2, 3]);
  for (const mode of ['DCR', 'CRD']) {
    const [y] = await checkKernel({
      opType: 'DepthToSpace',
      inputs: [x],
      attributes: { blocksize: 2, mode }
    });
    assert.deepEqual(y.shape, [2, 2, 4, 6]);
  }
  const [z] = await checkKernel({
    opType: 'SpaceToDepth',
    inputs: [randomTensor([1, 3, 4, 6])],
    attributes: { blocksize: 2 }
  });
  assert.deepEqual(z.shape, [1, 12, 2, 3]);
  // SpaceToDepth undoes DepthToSpace in DCR mode.
  const [space] = reference({ opType: 'DepthToSpace', inputs: [x], attributes: { blocksize: 2 } });
  const [depth] = reference({
    opType: 'SpaceToDepth',
    inputs: [space],
    attributes: { blocksize: 2 }
  });
  assert.deepEqual(values(depth), values(x));
  // The ONNX example of CRD: channels 0..3 of one pixel become a 2x2 block.
  const [crd] = reference({
    opType: 'DepthToSpace',
    inputs: [iota([1, 4, 1, 1])],
    attributes: { blocksize: 2, mode: 'CRD' }
  });
  assert.deepEqual(values(crd), [0, 1, 2, 3]);
});

// --- Concat / Split ---------------------------------------------------------------------------

test('Concat along positive and negative axes, with an empty input', async () => {
  const [a, b] = [randomTensor([2, 3, 4]), randomTensor([2, 5, 4], { seed: 2 })];
  const [y] = await checkKernel({ opType: 'Concat', inputs: [a, b], attributes: { axis: 1 } });
  assert.deepEqual(y.shape, [2, 8, 4]);
  const c = randomTensor([2, 3, 1], { seed: 3 });
  const [z] = await checkKernel({ opType: 'Concat', inputs: [a, c, a], attributes: { axis: -1 } });
  assert.deepEqual(z.shape, [2, 3, 9]);
  const empty = new Tensor('float32', [2, 0, 4]);
  const [w] = await checkKernel({
    opType: 'Concat',
    inputs: [empty, a, empty, b],
    attributes: { axis: 1 }
  });
  assert.deepEqual(values(w), values(y));
  await checkKernel({
    opType: 'Concat',
    inputs: [randomBools([2, 3]), randomBools([2, 2], 2)],
    attributes: { axis: 1 }
  });
  assert.throws(
    () => reference({ opType: 'Concat', inputs: [a, c], attributes: { axis: 1 } }),
    /differ in dim 2/
  );
});

test('Concat of more inputs than a shader can bind', async () => {
  const inputs = Array.from({ length: 12 }, (_, i) => randomTensor([2, i + 1], { seed: i }));
  const [y] = await checkKernel({ opType: 'Concat', inputs, attributes: { axis: 1 } });
  assert.deepEqual(y.shape, [2, 78]);
});

test('Concat of int64 shape pieces on the host', () => {
  const [y] = reference({
    opType: 'Concat',
    inputs: [int64([2]), int64([-1, 64])],
    attributes: { axis: 0 },
    constants: [0, 1]
  });
  assert.equal(y.dtype, 'int64');
  assert.deepEqual(values(y), [2, -1, 64]);
});

test('Split: sizes as input (13), attribute (11), equal parts, num_outputs uneven (18)', async () => {
  const x = randomTensor([2, 6, 3]);
  const shapesOf = (ys: Tensor[]) => ys.map(y => y.shape[1]);
  const cases: [NodeCase, number[]][] = [
    [
      { opType: 'Split', inputs: [x, int64([1, 3, 2])], attributes: { axis: 1 }, outputs: 3 },
      [1, 3, 2]
    ],
    [
      {
        opType: 'Split',
        inputs: [x],
        attributes: { axis: 1, split: [4, 2] },
        outputs: 2,
        opset: 11
      },
      [4, 2]
    ],
    [{ opType: 'Split', inputs: [x], attributes: { axis: -2 }, outputs: 3 }, [2, 2, 2]],
    [
      {
        opType: 'Split',
        inputs: [x],
        attributes: { axis: 1, num_outputs: 4 },
        outputs: 4,
        opset: 18
      },
      [2, 2, 2, 0]
    ],
    [
      {
        opType: 'Split',
        inputs: [randomTensor([2, 5])],
        attributes: { axis: 1, num_outputs: 3 },
        outputs: 3,
        opset: 18
      },
      [2, 2, 1]
    ],
    [
      {
        opType: 'Split',
        inputs: [x, int64([0, 6])],
        attributes: { axis: 1 },
        outputs: 2,
        constants: [1]
      },
      [0, 6]
    ]
  ];
  for (const [c, sizes] of cases) {
    const ys = await checkKernel({ constants: [1], ...c });
    assert.deepEqual(shapesOf(ys), sizes);
  }
  assert.throws(
    () => reference({ opType: 'Split', inputs: [x], attributes: { axis: 1 }, outputs: 4 }),
    /does not split into 4 equal parts/
  );
});

// --- Slice ------------------------------------------------------------------------------------

test('Slice: axes, negative axes and steps, INT64 sentinels, clamping', async () => {
  const x = randomTensor([4, 5, 6]);
  const cases: [Tensor[], number[]][] = [
    [
      [int64([1, 0]), int64([3, 4]), int64([0, 2])],
      [2, 5, 4]
    ],
    [
      [int64([-2]), int64([INT64_MAX]), int64([-1])],
      [4, 5, 2]
    ],
    [
      [int64([4]), int64([INT64_MIN]), int64([1]), int64([-1])],
      [4, 5, 6]
    ],
    [
      [int64([-1, 5]), int64([-4, 0]), int64([-2, 2]), int64([-2, -2])],
      [4, 2, 3]
    ],
    [
      [int64([1, 1, 1]), int64([1000, 1000, 1000]), int64([0, 1, 2]), int64([2, 3, 4])],
      [2, 2, 2]
    ],
    [
      [int64([-100]), int64([100])],
      [4, 5, 6]
    ],
    [
      [int64([3]), int64([1])],
      [0, 5, 6]
    ]
  ];
  for (const [parameters, shape] of cases) {
    const [y] = await checkKernel({
      opType: 'Slice',
      inputs: [x, ...parameters],
      constants: parameters.map((_, i) => i + 1)
    });
    assert.deepEqual(y.shape, shape, parameters.map(values).join(' | '));
  }
});

test('Slice with reversed steps reads the right elements', () => {
  const [y] = reference({
    opType: 'Slice',
    inputs: [iota([6]), int64([-1]), int64([INT64_MIN]), int64([0]), int64([-2])]
  });
  assert.deepEqual(values(y), [5, 3, 1]);
  const [z] = reference({
    opType: 'Slice',
    inputs: [iota([6]), int64([10]), int64([1]), int64([0]), int64([-3])]
  });
  assert.deepEqual(values(z), [5, 2]);
});

test('Slice of opset 1 takes attributes', async () => {
  const [y] = await checkKernel({
    opType: 'Slice',
    inputs: [randomTensor([3, 4])],
    attributes: { starts: [1], ends: [-1], axes: [1] },
    opset: 1
  });
  assert.deepEqual(y.shape, [3, 2]);
});

// --- Gather / GatherElements -----------------------------------------------------------------

test('Gather on each axis with negative, int32 and int64, scalar and 2-D indices', async () => {
  const x = randomTensor([3, 4, 5]);
  const cases: [Tensor, number, number[]][] = [
    [int64([2, -1, 0]), 0, [3, 4, 5]],
    [Tensor.fromNumbers('int32', [2, 2], [3, -4, 0, 1]), 1, [3, 2, 2, 5]],
    [Tensor.fromNumbers('int64', [], [-2]), -1, [3, 4]],
    [Tensor.fromNumbers('int32', [0], []), 2, [3, 4, 0]]
  ];
  for (const [indices, axis, shape] of cases) {
    for (const constants of [[1], []]) {
      const [y] = await checkKernel({
        opType: 'Gather',
        inputs: [x, indices],
        attributes: { axis },
        constants
      });
      assert.deepEqual(y.shape, shape);
    }
  }
  const [picked] = reference({
    opType: 'Gather',
    inputs: [iota([4, 2]), int64([-1, 1])]
  });
  assert.deepEqual(values(picked), [6, 7, 2, 3]);
  assert.throws(
    () => reference({ opType: 'Gather', inputs: [x, int64([3])] }),
    /index 3 is out of range/
  );
});

test('Gather of int64 and bool data on the GPU', async () => {
  await checkKernel({
    opType: 'Gather',
    inputs: [randomTensor([5, 3], { dtype: 'int64', low: -100, high: 100 }), int64([4, -5, 2])],
    constants: [1]
  });
  await checkKernel({
    opType: 'Gather',
    inputs: [randomBools([5, 3]), int64([1, 3])],
    attributes: { axis: 0 }
  });
});

test('GatherElements with negative indices on each axis', async () => {
  const x = randomTensor([3, 4]);
  for (const axis of [0, 1, -1]) {
    const size = x.shape[axis < 0 ? axis + 2 : axis];
    const indices = Tensor.fromNumbers(
      'int64',
      [2, 3],
      [0, -1, 1, size - 1, -size, 2].map(i => Math.min(i, size - 1))
    );
    await checkKernel({ opType: 'GatherElements', inputs: [x, indices], attributes: { axis } });
  }
  const [y] = reference({
    opType: 'GatherElements',
    inputs: [iota([2, 2]), Tensor.fromNumbers('int32', [2, 2], [0, 0, 1, -2])],
    attributes: { axis: 1 }
  });
  assert.deepEqual(values(y), [0, 0, 3, 2]);
});

// --- Pad --------------------------------------------------------------------------------------

test('Pad in each mode, with a constant value and negative pads', async () => {
  const x = randomTensor([3, 4]);
  const modes: [string, number[], number][] = [
    ['constant', [1, 2, 0, 1], 19],
    ['reflect', [2, 3, 1, 0], 11],
    ['edge', [0, 5, 2, 1], 11],
    ['wrap', [3, 1, 4, 2], 19],
    ['constant', [-1, 1, 1, -2], 13],
    ['reflect', [-1, 2, 0, 1], 13]
  ];
  for (const [mode, pads, opset] of modes) {
    const [y] = await checkKernel({
      opType: 'Pad',
      inputs: [x, int64(pads), Tensor.scalar('float32', 2.5)],
      attributes: { mode },
      constants: [1, 2],
      opset
    });
    assert.deepEqual(y.shape, [3 + pads[0] + pads[2], 4 + pads[1] + pads[3]], `${mode} ${pads}`);
  }
  const row = iota([1, 4]);
  const pad = (mode: string) =>
    values(
      reference({
        opType: 'Pad',
        inputs: [row, int64([0, 2, 0, 3])],
        attributes: { mode },
        opset: 19
      })[0]
    );
  assert.deepEqual(pad('constant'), [0, 0, 0, 1, 2, 3, 0, 0, 0]);
  assert.deepEqual(pad('reflect'), [2, 1, 0, 1, 2, 3, 2, 1, 0]);
  assert.deepEqual(pad('edge'), [0, 0, 0, 1, 2, 3, 3, 3, 3]);
  assert.deepEqual(pad('wrap'), [2, 3, 0, 1, 2, 3, 0, 1, 2]);
});

test('Pad: opset 2 attributes, opset 18 axes, integer data', async () => {
  const x = randomTensor([2, 3, 4]);
  const [old] = await checkKernel({
    opType: 'Pad',
    inputs: [x],
    attributes: { pads: [0, 1, 0, 0, 0, 2], value: -1 },
    opset: 2
  });
  assert.deepEqual(old.shape, [2, 4, 6]);
  const [axes] = await checkKernel({
    opType: 'Pad',
    inputs: [x, int64([1, 2, 3, 0]), undefined, int64([-1, 0])],
    attributes: { mode: 'edge' },
    constants: [1, 3],
    opset: 18
  });
  assert.deepEqual(axes.shape, [4, 3, 8]);
  const ints = randomTensor([3, 3], { dtype: 'int32', low: -9, high: 9 });
  const [y] = await checkKernel({
    opType: 'Pad',
    inputs: [ints, int64([1, 1, 1, 1]), Tensor.scalar('int32', 7)],
    constants: [1, 2]
  });
  assert.equal(values(y)[0], 7);
});

// --- Tile ---------------------------------------------------------------------------------------

test('Tile', async () => {
  const [y] = await checkKernel({
    opType: 'Tile',
    inputs: [randomTensor([2, 3]), int64([3, 2])],
    constants: [1]
  });
  assert.deepEqual(y.shape, [6, 6]);
  const [z] = reference({ opType: 'Tile', inputs: [iota([2]), int64([3])] });
  assert.deepEqual(values(z), [0, 1, 0, 1, 0, 1]);
  await checkKernel({
    opType: 'Tile',
    inputs: [randomTensor([2, 1, 3]), int64([1, 4, 0])],
    constants: [1]
  });
});

// --- inference ------------------------------------------------------------------------------------

test('inference carries symbolic dims through the layout ops', () => {
  const x = { dtype: 'float32' as const, shape: ['N', 4, 'L'] };
  const shape = (...args: Parameters<typeof inferNode>) => inferNode(...args).map(t => t.shape);
  assert.deepEqual(shape('Transpose', [x]), [['L', 4, 'N']]);
  assert.deepEqual(shape('Concat', [x, { dtype: 'float32', shape: ['N', 2, 'L'] }], { axis: 1 }), [
    ['N', 6, 'L']
  ]);
  assert.deepEqual(shape('Concat', [x, x], { axis: -1 }), [['N', 4, null]]);
  assert.deepEqual(shape('Split', [x], { axis: 1 }, { outputs: 2, opset: 11 }), [
    ['N', 2, 'L'],
    ['N', 2, 'L']
  ]);
  assert.deepEqual(shape('Slice', [x, int64([1]), int64([INT64_MAX]), int64([1])]), [
    ['N', 3, 'L']
  ]);
  assert.deepEqual(shape('Slice', [x, int64([0]), int64([INT64_MAX]), int64([-1])]), [
    ['N', 4, 'L']
  ]);
  assert.deepEqual(shape('Slice', [x, int64([0]), int64([2]), int64([0])]), [[null, 4, 'L']]);
  assert.deepEqual(shape('Slice', [x, int64([-1]), int64([INT64_MIN]), int64([2]), int64([-1])]), [
    ['N', 4, 'L']
  ]);
  assert.deepEqual(shape('Slice', [x, { dtype: 'int64', shape: [1] }, int64([2]), int64([1])]), [
    ['N', null, 'L']
  ]);
  assert.deepEqual(shape('Gather', [x, { dtype: 'int64', shape: [2, 3] }], { axis: 1 }), [
    ['N', 2, 3, 'L']
  ]);
  assert.deepEqual(shape('Pad', [x, int64([0, 1, 0, 0, 1, 0])]), [['N', 6, 'L']]);
  assert.deepEqual(shape('Tile', [x, int64([1, 2, 3])]), [['N', 8, null]]);
  assert.deepEqual(
    shape('DepthToSpace', [{ dtype: 'float32', shape: ['N', 8, 'H', 3] }], { blocksize: 2 }),
    [['N', 2, null, 6]]
  );
});

// --- ONNX backend conformance -------------------------------------------------------------------

const LAYOUT_CASES =
  /^test_(transpose|concat|split|slice|gather|gather_elements|(constant|edge|reflect|wrap)_pad|tile|depthtospace|spacetodepth)(_|$)/;

test(
  'ONNX conformance cases of the layout ops pass on the reference',
  { skip: conformanceSkip('test_transpose_default') },
  () => {
    const names = readdirSync(NODE_TESTS_DIR).filter(name => LAYOUT_CASES.test(name));
    assert.ok(names.length >= 50, `only ${names.length} cases found`);
    for (const name of names) {
      checkConformance(name);
    }
  }
);
