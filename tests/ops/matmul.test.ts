import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DataType } from '../../src/engine/ir/dtype';
import { AttributeValue, Dim } from '../../src/engine/ir/graph';
import { sizeOf, Tensor } from '../../src/engine/ir/tensor';
import { Dispatch, KernelContext } from '../../src/engine/kernels/context';
import { findOp } from '../../src/engine/ops/registry';
import { checkKernel, NodeCase, reference, singleNodeGraph, values } from '../helpers/compare';
import { testDevice } from '../helpers/gpu';
import { checkEveryTactic } from '../helpers/tactics';
import { checkConformance, conformanceSkip, NODE_TESTS_DIR } from '../helpers/conformance-case';
import { checkHalfKernel } from '../helpers/half';
import { inferNode } from '../helpers/infer-node';
import { randomTensor } from '../helpers/random';

const matrix = (rows: number[][]) =>
  Tensor.fromNumbers('float32', [rows.length, rows[0].length], rows.flat());

test('MatMul of 2-D operands matches a hand-computed product', async () => {
  const [y] = await checkKernel({
    opType: 'MatMul',
    inputs: [
      matrix([
        [1, 2, 3],
        [4, 5, 6]
      ]),
      matrix([
        [1, -1],
        [2, 0.5],
        [-3, 2]
      ])
    ]
  });
  assert.deepEqual(y.shape, [2, 2]);
  assert.deepEqual(Array.from(y.toNumbers()), [-4, 6, -4, 10.5]);
});

test('MatMul spanning several tiles, with edges that do not fill one', async () => {
  await checkKernel({
    opType: 'MatMul',
    inputs: [randomTensor([37, 41]), randomTensor([41, 19], { seed: 2 })]
  });
});

test('MatMul of 1-D operands drops their extra dim', async () => {
  const vector = randomTensor([5], { seed: 3 });
  const [rowTimesMatrix] = await checkKernel({
    opType: 'MatMul',
    inputs: [vector, randomTensor([2, 5, 3], { seed: 4 })]
  });
  assert.deepEqual(rowTimesMatrix.shape, [2, 3]);
  const [matrixTimesColumn] = await checkKernel({
    opType: 'MatMul',
    inputs: [randomTensor([3, 4, 5], { seed: 5 }), vector]
  });
  assert.deepEqual(matrixTimesColumn.shape, [3, 4]);
  const [dot] = await checkKernel({ opType: 'MatMul', inputs: [vector, vector] });
  assert.deepEqual(dot.shape, []);
  const v = vector.toNumbers();
  assert.ok(Math.abs(dot.toNumbers()[0] - v.reduce((s, x) => s + x * x, 0)) < 1e-5);
});

test('MatMul broadcasts batch dims', async () => {
  const [y] = await checkKernel({
    opType: 'MatMul',
    inputs: [randomTensor([2, 1, 3, 4]), randomTensor([3, 4, 5], { seed: 6 })]
  });
  assert.deepEqual(y.shape, [2, 3, 3, 5]);
  await checkKernel({
    opType: 'MatMul',
    inputs: [randomTensor([4, 6]), randomTensor([2, 3, 6, 2], { seed: 7 })]
  });
});

test('MatMul at sizes that fill no tile: M = 37, N = 19, K = 53', async () => {
  await checkKernel({
    opType: 'MatMul',
    inputs: [randomTensor([37, 53]), randomTensor([53, 19], { seed: 2 })]
  });
});

test('MatMul with sizes aligned for vec4 reads, batched and shared operands', async () => {
  await checkKernel({
    opType: 'MatMul',
    inputs: [randomTensor([3, 8, 12]), randomTensor([12, 16], { seed: 2 })]
  });
  await checkKernel({
    opType: 'MatMul',
    inputs: [randomTensor([8, 12]), randomTensor([3, 12, 16], { seed: 2 })]
  });
});

test('MatMul broadcasts batches every way: shared, per batch, partly, across axes', async () => {
  const cases: [number[], number[]][] = [
    // B shared by every batch of A, and A by every batch of B.
    [
      [2, 3, 5, 6],
      [6, 7]
    ],
    [
      [1, 5, 6],
      [2, 3, 6, 7]
    ],
    // One matrix per batch on both sides.
    [
      [2, 3, 5, 6],
      [2, 3, 6, 7]
    ],
    // B broadcast over the outer batch axis only.
    [
      [2, 3, 5, 6],
      [3, 6, 7]
    ],
    // A and B broadcast over different axes.
    [
      [3, 1, 5, 6],
      [1, 4, 6, 7]
    ]
  ];
  for (const [aShape, bShape] of cases) {
    await checkKernel({
      opType: 'MatMul',
      inputs: [randomTensor(aShape), randomTensor(bShape, { seed: 2 })]
    });
  }
});

test('MatMul shape inference carries symbolic batch and sequence dims', () => {
  const infer = (a: Dim[], b: Dim[]) =>
    inferNode('MatMul', [
      { dtype: 'float32', shape: a },
      { dtype: 'float32', shape: b }
    ])[0].shape;
  assert.deepEqual(infer(['batch', 'seq', 768], [768, 3072]), ['batch', 'seq', 3072]);
  assert.deepEqual(infer(['batch', 12, 'seq', 64], ['batch', 12, 64, 'seq']), [
    'batch',
    12,
    'seq',
    'seq'
  ]);
  assert.deepEqual(infer([1, 'seq', 8], ['batch', 8, 2]), ['batch', 'seq', 2]);
  assert.deepEqual(infer([null, 8], [8]), [null]);
  assert.throws(() => infer(['batch', 7], [8, 2]), /inner dimensions differ/);
});

test('Gemm shape inference, with transposes and partly known operands', () => {
  const infer = (a: Dim[] | undefined, b: Dim[] | undefined, transA = 0, transB = 0) =>
    inferNode(
      'Gemm',
      [
        { dtype: 'float32', shape: a },
        { dtype: 'float32', shape: b }
      ],
      { transA, transB }
    )[0].shape;
  assert.deepEqual(infer(['batch', 512], [512, 10]), ['batch', 10]);
  assert.deepEqual(infer([512, 'batch'], [10, 512], 1, 1), ['batch', 10]);
  assert.deepEqual(infer(['batch', 512], undefined, 0, 1), ['batch', null]);
  assert.throws(() => infer([4, 5], [4, 3]), /inner dimensions differ/);
});

test('Gemm with transposes, alpha and beta, for every C shape', async () => {
  const m = 5;
  const k = 7;
  const n = 3;
  const cShapes = [[], [1], [n], [m, 1], [1, n], [m, n]];
  for (const [transA, transB] of [
    [0, 0],
    [1, 0],
    [0, 1],
    [1, 1]
  ]) {
    for (const cShape of cShapes) {
      await checkKernel({
        opType: 'Gemm',
        inputs: [
          randomTensor(transA ? [k, m] : [m, k]),
          randomTensor(transB ? [n, k] : [k, n], { seed: 2 }),
          randomTensor(cShape, { seed: 3 })
        ],
        attributes: { transA, transB, alpha: 0.75, beta: -1.5 }
      });
    }
  }
});

test('Gemm at sizes that fill no tile, for every C shape, with beta 1 and not', async () => {
  const m = 37;
  const k = 53;
  const n = 19;
  // A single row or column makes [N] and [M, 1] as large as the whole output.
  const cases: [number, number[]][] = [
    [m, []],
    [m, [1, 1]],
    [m, [n]],
    [m, [1, n]],
    [m, [m, 1]],
    [m, [m, n]],
    [1, [n]],
    [1, [1, n]]
  ];
  for (const [rows, cShape] of cases) {
    for (const [transA, transB, beta] of [
      [0, 0, 1],
      [1, 1, 0.5]
    ]) {
      await checkKernel({
        opType: 'Gemm',
        inputs: [
          randomTensor(transA ? [k, rows] : [rows, k]),
          randomTensor(transB ? [n, k] : [k, n], { seed: 2 }),
          randomTensor(cShape, { seed: 3 })
        ],
        attributes: { transA, transB, alpha: 1.25, beta }
      });
    }
  }
});

test('Gemm without C, and C that does not broadcast to [M, N]', async () => {
  const [y] = await checkKernel({
    opType: 'Gemm',
    inputs: [randomTensor([20, 18]), randomTensor([18, 17], { seed: 2 })]
  });
  assert.deepEqual(y.shape, [20, 17]);
  await assert.rejects(
    checkKernel({
      opType: 'Gemm',
      inputs: [randomTensor([2, 3]), randomTensor([3, 4]), randomTensor([2, 4, 1])]
    }),
    /does not broadcast to \[2, 4\]/
  );
});

test('Gemm reference on a hand-computed case: alpha * A^T B + beta * C', async () => {
  const [y] = await checkKernel({
    opType: 'Gemm',
    inputs: [
      matrix([
        [1, 2],
        [3, 4]
      ]),
      matrix([
        [1, 0],
        [0, 1]
      ]),
      Tensor.fromNumbers('float32', [2], [10, 20])
    ],
    attributes: { transA: 1, alpha: 2, beta: 0.5 }
  });
  // A^T = [[1, 3], [2, 4]]; 2 * A^T + 0.5 * [10, 20] per row.
  assert.deepEqual(Array.from(y.toNumbers()), [7, 16, 9, 18]);
});

// --- webtrt::FusedMatMul ------------------------------------------------------------------

interface FusedCase {
  a: number[];
  b: number[];
  /** C's shape; no C when absent. */
  c?: number[];
  residual?: boolean;
  attributes?: Record<string, AttributeValue>;
  activation?: [string, number[]];
}

/** Runs webtrt::FusedMatMul on the GPU against its CPU reference; returns the reference's Y. */
async function checkFusedMatMul(c: FusedCase, seed = 10): Promise<Tensor> {
  const random = (shape: number[]) => randomTensor(shape, { seed: seed++ });
  const a = random(c.a);
  const b = random(c.b);
  const attributes: Record<string, AttributeValue> = { ...c.attributes };
  if (c.activation) {
    [attributes.activation, attributes.activation_params] = c.activation;
  }
  const [product] = reference({
    opType: 'FusedMatMul',
    domain: 'webtrt',
    inputs: [a, b],
    attributes: { transA: attributes.transA ?? 0, transB: attributes.transB ?? 0 }
  });
  const inputs = [a, b, c.c && random(c.c), c.residual ? random([...product.shape]) : undefined];
  const [y] = await checkKernel({ opType: 'FusedMatMul', domain: 'webtrt', inputs, attributes });
  return y;
}

test('FusedMatMul reference equals the MatMul, Adds and activation it replaces', () => {
  const a = randomTensor([2, 3, 4]);
  const b = randomTensor([4, 5], { seed: 2 });
  const c = randomTensor([5], { seed: 3 });
  const z = randomTensor([2, 3, 5], { seed: 4 });
  const [product] = reference({ opType: 'MatMul', inputs: [a, b] });
  const [biased] = reference({ opType: 'Add', inputs: [product, c] });
  const [summed] = reference({ opType: 'Add', inputs: [biased, z] });
  const [expected] = reference({ opType: 'HardSigmoid', inputs: [summed] });
  const [fused] = reference({
    opType: 'FusedMatMul',
    domain: 'webtrt',
    inputs: [a, b, c, z],
    attributes: { activation: 'HardSigmoid', activation_params: [0.2, 0.5] }
  });
  assert.deepEqual(fused.shape, [2, 3, 5]);
  const e = values(expected);
  values(fused).forEach((v, i) => assert.ok(Math.abs(v - e[i]) < 1e-6, `element ${i}`));
  assert.ok(e.some(v => v === 0) && e.some(v => v > 0 && v < 1), 'HardSigmoid saturates and not');
});

test('FusedMatMul equals Gemm for 2-D operands with transposes, alpha and C', () => {
  const a = randomTensor([4, 3]);
  const b = randomTensor([5, 4], { seed: 2 });
  const c = randomTensor([3, 1], { seed: 3 });
  const attributes = { transA: 1, transB: 1, alpha: 0.5 };
  const [gemm] = reference({ opType: 'Gemm', inputs: [a, b, c], attributes });
  const [fused] = reference({
    opType: 'FusedMatMul',
    domain: 'webtrt',
    inputs: [a, b, c],
    attributes
  });
  assert.deepEqual(values(fused), values(gemm));
});

test('FusedMatMul: row bias, residual and Relu, batched, on every transpose', async () => {
  for (const [transA, transB] of [
    [0, 0],
    [1, 0],
    [0, 1],
    [1, 1]
  ]) {
    const y = await checkFusedMatMul({
      a: transA ? [2, 7, 5] : [2, 5, 7],
      b: transB ? [3, 7] : [7, 3],
      c: [3],
      residual: true,
      attributes: { transA, transB, alpha: 1.5 },
      activation: ['Relu', []]
    });
    assert.deepEqual(y.shape, [2, 5, 3]);
    assert.ok(values(y).some(v => v === 0) && values(y).some(v => v > 0));
  }
});

test('FusedMatMul: every C shape, with and without a residual', async () => {
  // A scalar, a row, a column, one value per batch and per row, the whole output.
  const cShapes = [[], [1, 1], [6], [1, 6], [5, 1], [2, 1, 6], [2, 5, 1], [2, 5, 6]];
  for (const cShape of cShapes) {
    for (const residual of [false, true]) {
      await checkFusedMatMul({ a: [2, 5, 4], b: [4, 6], c: cShape, residual });
    }
  }
});

test('FusedMatMul activations, with helpers (Gelu) and parameters (Clip, LeakyRelu)', async () => {
  const activations: [string, number[]][] = [
    ['Clip', [-0.5, 1]],
    ['Gelu', [0]],
    ['HardSwish', []],
    ['Sigmoid', []],
    ['LeakyRelu', [0.1]]
  ];
  for (const activation of activations) {
    await checkFusedMatMul({ a: [9, 8], b: [8, 12], c: [12], activation });
  }
});

test('FusedMatMul of vectors: C along the dim the output keeps', async () => {
  const rowTimesMatrix = await checkFusedMatMul({ a: [5], b: [2, 5, 3], c: [3], residual: true });
  assert.deepEqual(rowTimesMatrix.shape, [2, 3]);
  const matrixTimesColumn = await checkFusedMatMul({ a: [2, 4, 5], b: [5], c: [4] });
  assert.deepEqual(matrixTimesColumn.shape, [2, 4]);
  await checkFusedMatMul({ a: [2, 4, 5], b: [5], c: [2, 1] });
});

test('FusedMatMul refuses a residual of another shape, a growing C and a transposed vector', () => {
  const fused = (inputs: (Tensor | undefined)[], attributes: Record<string, AttributeValue> = {}) =>
    reference({ opType: 'FusedMatMul', domain: 'webtrt', inputs, attributes });
  const a = randomTensor([3, 4]);
  const b = randomTensor([4, 5]);
  assert.throws(
    () => fused([a, b, undefined, randomTensor([1, 3, 5])]),
    /Z of shape \[1, 3, 5\] is not the output's shape \[3, 5\]/
  );
  assert.throws(() => fused([a, b, randomTensor([2, 1, 5])]), /does not broadcast to \[3, 5\]/);
  assert.throws(
    () => fused([randomTensor([4]), b], { transA: 1 }),
    /transposed operand must have rank 2 or more/
  );
  assert.throws(() => fused([a, b], { activation: 'Softmax' }), /not one a layer can fuse/);
});

describe('FP16 layers: f16 storage where the device has shader-f16, else rounded f32', () => {
  // float32 inputs that float16 holds exactly, so the reformats into the layer round nothing.
  const halfExact = (shape: number[], options: { seed?: number } = {}) =>
    Tensor.fromNumbers(
      'float32',
      shape,
      randomTensor(shape, { ...options, dtype: 'float16' }).toNumbers()
    );
  const fused = (inputs: Tensor[], attributes: Record<string, AttributeValue> = {}): NodeCase => ({
    opType: 'FusedMatMul',
    domain: 'webtrt',
    inputs,
    attributes
  });
  const cases: [string, NodeCase][] = [
    [
      'MatMul, batched',
      { opType: 'MatMul', inputs: [halfExact([2, 5, 9]), halfExact([9, 7], { seed: 2 })] }
    ],
    [
      'Gemm with transposes and beta * C',
      {
        opType: 'Gemm',
        inputs: [halfExact([6, 5]), halfExact([7, 6], { seed: 2 }), halfExact([7], { seed: 3 })],
        attributes: { transA: 1, transB: 1, beta: 0.5 }
      }
    ],
    [
      'FusedMatMul with a row bias, a residual and Tanh',
      fused(
        [
          halfExact([3, 8]),
          halfExact([8, 4], { seed: 2 }),
          halfExact([1, 4], { seed: 3 }),
          halfExact([3, 4], { seed: 4 })
        ],
        { activation: 'Tanh' }
      )
    ],
    [
      'FusedMatMul with a bias per batch summed into the residual',
      fused([
        halfExact([2, 3, 5]),
        halfExact([5, 6], { seed: 2 }),
        halfExact([2, 1, 6], { seed: 3 }),
        halfExact([2, 3, 6], { seed: 4 })
      ])
    ]
  ];
  for (const [what, c] of cases) {
    test(what, async () => {
      await checkHalfKernel(c);
    });
  }
});

describe('tactics', () => {
  const c: NodeCase = {
    opType: 'FusedMatMul',
    domain: 'webtrt',
    inputs: [
      randomTensor([2, 37, 21]),
      randomTensor([21, 19], { seed: 2 }),
      randomTensor([19], { seed: 3 }),
      randomTensor([2, 37, 19], { seed: 4 })
    ],
    attributes: { activation: 'LeakyRelu', activation_params: [0.1] }
  };
  const op = findOp('FusedMatMul', 'webtrt')!;
  const node = singleNodeGraph(c).nodes[0];
  const attrs = op.parseAttributes({ opset: 17, node });

  /** A tensor of `shape` whose buffer nothing reads: kernels are only recorded. */
  const placeholder = (device: GPUDevice, dtype: DataType, shape: readonly number[]) => ({
    dtype,
    shape,
    size: sizeOf(shape),
    buffer: device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE })
  });
  const inputsOn = (device: GPUDevice) =>
    c.inputs.map(t => t && placeholder(device, t.dtype, t.shape));

  /** The dispatches the layer's kernel records with `tactic`, run nowhere. */
  function recorded(device: GPUDevice, tactic: string | undefined): Dispatch[] {
    const dispatches: Dispatch[] = [];
    const ctx: KernelContext = {
      device,
      node,
      tactic,
      allocate: (dtype, shape) => placeholder(device, dtype, shape),
      dispatch: d => dispatches.push(d),
      view: (t, shape) => ({ ...t, shape })
    };
    op.webgpu!.run(ctx, inputsOn(device), [], attrs);
    return dispatches;
  }

  test('each tactic offered records a GEMM kernel of its own, the default first', async () => {
    const device = await testDevice();
    const names = op.webgpu!.tactics!(inputsOn(device), attrs, device.limits);
    assert.ok(names.length >= 3, `only ${names.join(', ')} offered`);
    const code = (tactic: string | undefined) => recorded(device, tactic).map(d => d.code);
    assert.deepEqual(code(names[0]), code(undefined));
    const kernels = new Set(names.map(name => code(name).join('\n')));
    assert.equal(kernels.size, names.length, 'two tactics record the same kernel');
  });

  test('every tactic offered computes the reference in an engine that records it', async () => {
    await checkEveryTactic(c, 3);
  });

  test('a classifier-shaped Gemm (few rows, long K) also splits K, and every split sums right', async () => {
    const classifier: NodeCase = {
      opType: 'Gemm',
      inputs: [
        randomTensor([4, 512], { seed: 5 }),
        randomTensor([24, 512], { seed: 6 }),
        randomTensor([24], { seed: 7 })
      ],
      attributes: { transB: 1, alpha: 0.5, beta: 2 }
    };
    const gemm = findOp('Gemm')!;
    const gemmNode = singleNodeGraph(classifier).nodes[0];
    const device = await testDevice();
    const names = gemm.webgpu!.tactics!(
      classifier.inputs.map(t => t && placeholder(device, t.dtype, t.shape)),
      gemm.parseAttributes({ opset: 17, node: gemmNode }),
      device.limits
    );
    assert.ok(
      names.some(name => name.includes('K split')),
      `no split K among ${names.join(', ')}`
    );
    await checkEveryTactic(classifier, names.length);
  });
});

test(
  'ONNX conformance cases of MatMul and Gemm pass on the reference',
  { skip: conformanceSkip('test_matmul_2d') },
  () => {
    const names = readdirSync(NODE_TESTS_DIR).filter(name => /^test_(matmul|gemm)_/.test(name));
    assert.ok(names.length >= 14, `only ${names.length} cases`);
    for (const name of names) {
      checkConformance(name);
    }
  }
);
