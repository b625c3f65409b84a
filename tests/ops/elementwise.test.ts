import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AttributeValue } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { erf } from '../../src/engine/ops/elementwise';
import { runReference } from '../../src/engine/runtime/reference';
import { checkKernel, feedsOf, singleNodeGraph } from '../helpers/compare';
import { randomTensor } from '../helpers/random';

const x = randomTensor([3, 4, 5], { low: -3, high: 3 });
const positive = randomTensor([3, 4, 5], { low: 0.1, high: 4, seed: 9 });

describe('unary ops match the CPU reference on WebGPU', () => {
  const cases: [string, Tensor, Record<string, AttributeValue>?][] = [
    ['Relu', x],
    ['LeakyRelu', x, { alpha: 0.2 }],
    ['LeakyRelu', x],
    ['Elu', x, { alpha: 0.7 }],
    ['Selu', x],
    ['Celu', x, { alpha: 1.5 }],
    ['ThresholdedRelu', x, { alpha: 0.5 }],
    ['Sigmoid', x],
    ['HardSigmoid', x, { alpha: 0.3, beta: 0.4 }],
    ['HardSwish', x],
    ['Tanh', randomTensor([64], { low: -30, high: 30 })],
    ['Erf', x],
    ['Gelu', x, {}],
    ['Gelu', x, { approximate: 'tanh' }],
    ['Softplus', x],
    ['Softsign', x],
    ['Mish', x],
    ['Sqrt', positive],
    ['Reciprocal', positive],
    ['Neg', x],
    ['Abs', x],
    ['Sign', x],
    ['Exp', x],
    ['Log', positive],
    ['Floor', x],
    ['Ceil', x],
    ['Sin', x],
    ['Cos', x]
  ];
  // WGSL bounds sin and cos only to an absolute error of 2^-11 on [-pi, pi].
  const looser: Record<string, number> = { Sin: 5e-4, Cos: 5e-4 };
  for (const [opType, input, attributes] of cases) {
    test(`${opType} ${JSON.stringify(attributes ?? {})}`, async () => {
      await checkKernel({ opType, inputs: [input], attributes, opset: 20 }, looser[opType] ?? 2e-6);
    });
  }
});

describe('broadcasting binary and variadic ops', () => {
  const a = randomTensor([2, 3, 4], { seed: 3 });
  const row = randomTensor([4], { seed: 4 });
  const column = randomTensor([3, 1], { seed: 5 });
  for (const opType of ['Add', 'Sub', 'Mul', 'Div', 'PRelu']) {
    test(`${opType} with a row and with a column`, async () => {
      await checkKernel({ opType, inputs: [a, row] });
      await checkKernel({ opType, inputs: [column, a] });
    });
  }
  test('Pow with negative bases and integral exponents', async () => {
    const exponent = Tensor.fromNumbers('float32', [4], [2, 3, -1, 0.5]);
    await checkKernel({ opType: 'Pow', inputs: [positive.reshape([3, 5, 4]), exponent] });
    const integral = Tensor.fromNumbers('float32', [4], [2, 3, -2, 0]);
    await checkKernel({ opType: 'Pow', inputs: [a, integral] });
  });
  for (const opType of ['Min', 'Max', 'Sum', 'Mean']) {
    test(`${opType} over three broadcast inputs`, async () => {
      await checkKernel({ opType, inputs: [a, row, column] });
    });
  }
  for (const opType of ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']) {
    test(`${opType} gives bool`, async () => {
      const rounded = Tensor.fromNumbers('float32', a.shape, a.toNumbers().map(Math.round));
      const [out] = await checkKernel({
        opType,
        inputs: [rounded, Tensor.fromNumbers('float32', [4], [0, 1, -1, 2])]
      });
      assert.equal(out.dtype, 'bool');
      const trues = out.toNumbers().filter(v => v).length;
      assert.ok(
        trues > 0 && trues < out.size,
        `${opType} should be neither all true nor all false`
      );
    });
  }
  const bools = (values: number[], shape: number[]) => Tensor.fromNumbers('bool', shape, values);
  for (const opType of ['And', 'Or', 'Xor']) {
    test(`${opType} on bool`, async () => {
      await checkKernel({ opType, inputs: [bools([1, 0, 1, 0], [2, 2]), bools([1, 1], [2, 1])] });
    });
  }
});

describe('Not, Where, Clip, Cast', () => {
  test('integer arithmetic and comparisons on int32 run on the GPU', async () => {
    const a = randomTensor([3, 4], { dtype: 'int32', low: -50, high: 50 });
    const b = randomTensor([4], { dtype: 'int32', low: 1, high: 9, seed: 2 });
    for (const opType of ['Add', 'Sub', 'Mul', 'Div', 'Max', 'Less', 'Equal']) {
      await checkKernel({ opType, inputs: [a, b] });
    }
  });
  test('float16 and float64 are computed in float32 and keep their type', async () => {
    for (const dtype of ['float16', 'float64'] as const) {
      const a = randomTensor([3, 4], { dtype, seed: 11 });
      const [sum] = await checkKernel(
        { opType: 'Add', inputs: [a, randomTensor([4], { dtype })] },
        1e-3
      );
      assert.equal(sum.dtype, dtype);
      await checkKernel({ opType: 'Tanh', inputs: [a] }, 1e-3);
    }
  });
  test('narrow integers wrap as the CPU reference wraps them', async () => {
    const a = Tensor.fromNumbers('uint8', [4], [250, 3, 128, 7]);
    const b = Tensor.fromNumbers('uint8', [4], [10, 200, 128, 9]);
    const [sum] = await checkKernel({ opType: 'Add', inputs: [a, b] });
    assert.deepEqual(Array.from(sum.toNumbers()), [4, 203, 0, 16]);
    const small = Tensor.fromNumbers('int8', [4], [-128, -5, 100, 127]);
    await checkKernel({ opType: 'Mul', inputs: [small, Tensor.fromNumbers('int8', [1], [3])] });
    await checkKernel({
      opType: 'Clip',
      inputs: [small, Tensor.scalar('int8', -10), Tensor.scalar('int8', 110)],
      constants: [1, 2]
    });
  });
  test('Pow of a float by integer exponents', async () => {
    const exponent = Tensor.fromNumbers('int64', [3], [2, 3, -1]);
    await checkKernel({ opType: 'Pow', inputs: [randomTensor([2, 3]), exponent] });
  });
  test('Cast between integer, bool and float types on the GPU', async () => {
    const ints = Tensor.fromNumbers('int32', [6], [-300, -1, 0, 1, 255, 70000]);
    for (const to of [1, 2, 3, 5, 9, 10, 12]) {
      await checkKernel({ opType: 'Cast', inputs: [ints], attributes: { to } });
    }
    const flags = Tensor.fromNumbers('bool', [3], [1, 0, 1]);
    await checkKernel({ opType: 'Cast', inputs: [flags], attributes: { to: 1 } });
  });
  test('Not', async () => {
    await checkKernel({
      opType: 'Not',
      inputs: [Tensor.fromNumbers('bool', [5], [1, 0, 0, 1, 1])]
    });
  });
  test('Where broadcasts condition and values', async () => {
    const condition = Tensor.fromNumbers('bool', [4], [1, 0, 0, 1]);
    const [out] = await checkKernel({
      opType: 'Where',
      inputs: [condition, randomTensor([3, 4]), randomTensor([3, 1], { seed: 7 })]
    });
    assert.deepEqual(out.shape, [3, 4]);
  });
  test('Clip with bounds as inputs (opset 13) and as attributes (opset 6)', async () => {
    await checkKernel({
      opType: 'Clip',
      inputs: [x, Tensor.scalar('float32', -0.5), Tensor.scalar('float32', 1.25)],
      constants: [1, 2]
    });
    await checkKernel({
      opType: 'Clip',
      inputs: [x, undefined, Tensor.scalar('float32', 0.5)],
      constants: [2]
    });
    await checkKernel({ opType: 'Clip', inputs: [x], attributes: { min: 0, max: 6 }, opset: 6 });
  });
  test('Cast float32 to integer types truncates toward zero and wraps', async () => {
    const wide = randomTensor([40], { low: -300, high: 300 });
    for (const to of [6, 7, 2, 3, 9]) {
      await checkKernel({ opType: 'Cast', inputs: [wide], attributes: { to } });
    }
  });
  test('Cast int64 to float16 runs on the CPU reference', () => {
    const graph = singleNodeGraph({
      opType: 'Cast',
      inputs: [Tensor.fromNumbers('int64', [3], [1, -2, 70000])],
      attributes: { to: 10 }
    });
    const out = runReference(graph, { x0: Tensor.fromNumbers('int64', [3], [1, -2, 70000]) }).y0;
    assert.equal(out.dtype, 'float16');
    assert.deepEqual(Array.from(out.toNumbers()), [1, -2, Infinity]);
  });
});

describe('CPU reference semantics', () => {
  const run = (
    opType: string,
    inputs: Tensor[],
    attributes: Record<string, AttributeValue> = {}
  ) => {
    const c = { opType, inputs, attributes };
    return runReference(singleNodeGraph(c), feedsOf(c)).y0;
  };
  test('integer Div truncates and Mod follows the divisor sign unless fmod', () => {
    const a = Tensor.fromNumbers('int32', [4], [7, -7, 7, -7]);
    const b = Tensor.fromNumbers('int32', [4], [2, 2, -2, -2]);
    assert.deepEqual(Array.from(run('Div', [a, b]).toNumbers()), [3, -3, -3, 3]);
    assert.deepEqual(Array.from(run('Mod', [a, b]).toNumbers()), [1, 1, -1, -1]);
    assert.deepEqual(Array.from(run('Mod', [a, b], { fmod: 1 }).toNumbers()), [1, -1, 1, -1]);
  });
  test('Round is half to even', () => {
    const values = Tensor.fromNumbers('float32', [6], [0.5, 1.5, 2.5, -0.5, -1.5, 2.4]);
    assert.deepEqual(Array.from(run('Round', [values]).toNumbers()), [0, 2, 2, -0, -2, 2]);
  });
  test('erf matches tabulated values', () => {
    const table: [number, number][] = [
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3.5, 0.9999992569016276]
    ];
    for (const [v, expected] of table) {
      assert.ok(Math.abs(erf(v) - expected) < 1e-12, `erf(${v}) = ${erf(v)}`);
      assert.ok(Math.abs(erf(-v) + expected) < 1e-12);
    }
  });
  test('mismatched broadcast shapes name the node', () => {
    assert.throws(
      () => run('Add', [randomTensor([2, 3]), randomTensor([4])]),
      /node 'Add_0' \(Add\): .*cannot broadcast/
    );
  });
});
