import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { Tensor } from '../../src/engine/ir/tensor';
import { checkKernel } from '../helpers/compare';
import { checkConformance, conformanceSkip, NODE_TESTS_DIR } from '../helpers/conformance-case';
import { inferNode } from '../helpers/infer-node';
import { randomTensor } from '../helpers/random';

const REDUCE_OPS = [
  'ReduceSum',
  'ReduceMean',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceL1',
  'ReduceL2',
  'ReduceSumSquare',
  'ReduceLogSum',
  'ReduceLogSumExp'
];

const axesTensor = (axes: number[]) => Tensor.fromNumbers('int64', [axes.length], axes);

/** Positive inputs keep ReduceLogSum's log defined; the rest see both signs. */
function dataFor(opType: string, shape: number[], seed = 1): Tensor {
  return opType === 'ReduceLogSum'
    ? randomTensor(shape, { low: 0.1, high: 2, seed })
    : randomTensor(shape, { seed });
}

const CASES: { axes?: number[]; keepdims: number }[] = [
  { axes: [1], keepdims: 1 },
  { axes: [0, 2], keepdims: 0 },
  { axes: [-1], keepdims: 0 },
  { axes: [-3, 1], keepdims: 1 },
  { keepdims: 1 },
  { keepdims: 0 }
];

for (const opType of REDUCE_OPS) {
  test(`${opType} with axes as an attribute (opset 11) matches the reference`, async () => {
    for (const { axes, keepdims } of CASES) {
      const [y] = await checkKernel({
        opType,
        inputs: [dataFor(opType, [3, 4, 5])],
        attributes: { keepdims, ...(axes ? { axes } : {}) },
        opset: 11
      });
      const reduced = axes ? axes.length : 3;
      assert.equal(y.rank, keepdims ? 3 : 3 - reduced);
    }
  });

  test(`${opType} with axes as an input (opset 18) matches the reference`, async () => {
    for (const { axes, keepdims } of CASES) {
      await checkKernel({
        opType,
        inputs: [dataFor(opType, [3, 4, 5]), axes && axesTensor(axes)],
        attributes: { keepdims },
        constants: [1],
        opset: 18
      });
    }
  });
}

test('axes fed at run time are read back to the host', async () => {
  const [y] = await checkKernel({
    opType: 'ReduceSum',
    inputs: [randomTensor([2, 3, 4]), axesTensor([-2])],
    attributes: { keepdims: 0 },
    opset: 13
  });
  assert.deepEqual(y.shape, [2, 4]);
});

test('empty axes with noop_with_empty_axes fold each element alone', async () => {
  const x = randomTensor([2, 3]);
  const noop = { noop_with_empty_axes: 1 };
  const [sum] = await checkKernel({
    opType: 'ReduceSum',
    inputs: [x, axesTensor([])],
    attributes: noop,
    constants: [1],
    opset: 13
  });
  assert.deepEqual(Array.from(sum.toNumbers()), Array.from(x.toNumbers()));
  const [squares] = await checkKernel({
    opType: 'ReduceSumSquare',
    inputs: [x],
    attributes: noop,
    opset: 18
  });
  assert.deepEqual(
    Array.from(squares.toNumbers()),
    Array.from(x.toNumbers(), v => Math.fround(v * v))
  );
  const [all] = await checkKernel({
    opType: 'ReduceSum',
    inputs: [x, axesTensor([])],
    constants: [1],
    opset: 13
  });
  assert.deepEqual(all.shape, [1, 1]);
});

test('a reduction over a long axis stays accurate', async () => {
  await checkKernel({
    opType: 'ReduceMean',
    inputs: [randomTensor([2, 5000])],
    attributes: { axes: [1] },
    opset: 13
  });
  await checkKernel({
    opType: 'ReduceLogSumExp',
    inputs: [randomTensor([3, 2000], { low: 50, high: 100 })],
    attributes: { axes: [1] },
    opset: 13
  });
});

test('ReduceLogSumExp does not overflow on large inputs', async () => {
  const x = Tensor.fromNumbers('float32', [1, 3], [1000, 1000, 1000]);
  const [y] = await checkKernel({ opType: 'ReduceLogSumExp', inputs: [x], opset: 13 });
  assert.ok(Math.abs(y.toNumbers()[0] - (1000 + Math.log(3))) < 1e-3);
});

test('hand-computed reductions of [[1, 2], [3, 4]]', async () => {
  const x = Tensor.fromNumbers('float32', [2, 2], [1, 2, 3, 4]);
  const expected: Record<string, number[]> = {
    ReduceSum: [3, 7],
    ReduceMean: [1.5, 3.5],
    ReduceMax: [2, 4],
    ReduceMin: [1, 3],
    ReduceProd: [2, 12],
    ReduceL1: [3, 7],
    ReduceL2: [Math.sqrt(5), 5],
    ReduceSumSquare: [5, 25],
    ReduceLogSum: [Math.log(3), Math.log(7)],
    ReduceLogSumExp: [Math.log(Math.E + Math.E ** 2), Math.log(Math.E ** 3 + Math.E ** 4)]
  };
  for (const [opType, values] of Object.entries(expected)) {
    const [y] = await checkKernel({ opType, inputs: [x], attributes: { axes: [1] }, opset: 11 });
    assert.deepEqual(y.shape, [2, 1], opType);
    y.toNumbers().forEach((v, i) => assert.ok(Math.abs(v - values[i]) < 1e-6, `${opType}: ${v}`));
  }
});

test('reduce shape inference keeps symbolic dims and handles run-time axes', () => {
  const data = { dtype: 'float32' as const, shape: ['batch', 'seq', 768] };
  assert.deepEqual(inferNode('ReduceMean', [data], { axes: [-1] }, { opset: 13 })[0].shape, [
    'batch',
    'seq',
    1
  ]);
  assert.deepEqual(
    inferNode('ReduceSum', [data, axesTensor([1])], { keepdims: 0 }, { opset: 13 })[0].shape,
    ['batch', 768]
  );
  const runtimeAxes = { dtype: 'int64' as const, shape: [1] };
  assert.deepEqual(inferNode('ReduceMax', [data, runtimeAxes], {}, { opset: 18 })[0].shape, [
    null,
    null,
    null
  ]);
  assert.equal(
    inferNode('ReduceMax', [data, runtimeAxes], { keepdims: 0 }, { opset: 18 })[0].shape,
    undefined
  );
  assert.equal(
    inferNode('ReduceL2', [{ dtype: 'float32' }], {}, { opset: 13 })[0].shape,
    undefined
  );
  assert.throws(() => inferNode('ReduceSum', [data], { axes: [3] }, { opset: 11 }), /out of range/);
  assert.throws(() => inferNode('ReduceSum', [data], { axes: [1, -2] }, { opset: 11 }), /repeat/);
});

test('ArgMax and ArgMin on random inputs, every axis, keepdims 0 and 1', async () => {
  for (const opType of ['ArgMax', 'ArgMin']) {
    for (const axis of [0, 1, -1]) {
      for (const keepdims of [0, 1]) {
        const [y] = await checkKernel({
          opType,
          inputs: [randomTensor([3, 4, 5])],
          attributes: { axis, keepdims }
        });
        assert.equal(y.dtype, 'int64');
        assert.equal(y.rank, keepdims ? 3 : 2);
      }
    }
  }
});

test('ArgMax and ArgMin break ties by select_last_index', async () => {
  // Integers in [-2, 2) as floats: many ties along every row.
  const x = randomTensor([4, 6], { dtype: 'int32' });
  const ties = Tensor.fromNumbers('float32', x.shape, x.toNumbers());
  for (const opType of ['ArgMax', 'ArgMin']) {
    for (const selectLast of [0, 1]) {
      await checkKernel({
        opType,
        inputs: [ties],
        attributes: { axis: 1, select_last_index: selectLast }
      });
    }
  }
  const row = Tensor.fromNumbers('float32', [5], [1, 3, 0, 3, 0]);
  const argmax = async (opType: string, select_last_index: number) =>
    (
      await checkKernel({ opType, inputs: [row], attributes: { select_last_index } })
    )[0].toNumbers()[0];
  assert.equal(await argmax('ArgMax', 0), 1);
  assert.equal(await argmax('ArgMax', 1), 3);
  assert.equal(await argmax('ArgMin', 0), 2);
  assert.equal(await argmax('ArgMin', 1), 4);
});

const CONFORMANCE = conformanceSkip('test_reduce_sum_keepdims_example')
  ? []
  : readdirSync(NODE_TESTS_DIR).filter(name => /^test_(reduce_|arg(max|min)_)/.test(name));

test(
  'ONNX conformance cases of the reductions pass on the reference',
  { skip: conformanceSkip('test_reduce_sum_keepdims_example') },
  () => {
    assert.ok(CONFORMANCE.length > 100);
    for (const name of CONFORMANCE) {
      checkConformance(name);
    }
  }
);
