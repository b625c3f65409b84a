import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { Tensor } from '../../src/engine/ir/tensor';
import { GpuTensor, KernelContext } from '../../src/engine/kernels/context';
import { OpError } from '../../src/engine/ops/types';
import { prepareNodes } from '../../src/engine/runtime/prepare';
import { NativeExecutor } from '../../src/engine/runtime/native';
import { checkKernel, NodeCase, reference, singleNodeGraph, values } from '../helpers/compare';
import { checkConformance, conformanceSkip, NODE_TESTS_DIR } from '../helpers/conformance-case';
import { testDevice } from '../helpers/gpu';
import { inferNode } from '../helpers/infer-node';
import { randomTensor } from '../helpers/random';

const int64 = (values: number[], shape = [values.length]) =>
  Tensor.fromNumbers('int64', shape, values);

/**
 * Runs the node's kernel on a context that records what it does, without a device:
 * views must neither allocate nor dispatch.
 */
function runRecorded(c: NodeCase): {
  outputs: GpuTensor[];
  allocations: number;
  dispatches: number;
} {
  const [step] = prepareNodes(singleNodeGraph(c));
  const buffer = {} as GPUBuffer;
  let allocations = 0;
  let dispatches = 0;
  const ctx: KernelContext = {
    device: {} as GPUDevice,
    node: step.node,
    allocate: (dtype, shape) => {
      allocations++;
      return { dtype, shape, size: shape.reduce((a, b) => a * b, 1), buffer };
    },
    dispatch: () => void dispatches++,
    view: (t, shape, dtype) => ({ ...t, shape, dtype: dtype ?? t.dtype })
  };
  const gpuInputs = c.inputs.map((t, i) =>
    t && !step.hostInputs.includes(i)
      ? { dtype: t.dtype, shape: t.shape, size: t.size, buffer }
      : undefined
  );
  const hostInputs = c.inputs.map((t, i) => (step.hostInputs.includes(i) ? t : undefined));
  const outputs = step.op.webgpu!.run(ctx, gpuInputs, hostInputs, step.attrs);
  return { outputs, allocations, dispatches };
}

// --- Reshape -----------------------------------------------------------------------------

test('Reshape with 0 (copy) and -1 (inferred) on the GPU', async () => {
  const [y] = await checkKernel({
    opType: 'Reshape',
    inputs: [randomTensor([2, 3, 4]), int64([0, -1, 2])],
    constants: [1]
  });
  assert.deepEqual(y.shape, [2, 6, 2]);
});

test('Reshape with a shape fed at run time', async () => {
  const [y] = await checkKernel({
    opType: 'Reshape',
    inputs: [randomTensor([2, 3, 4]), int64([4, 3, 2])]
  });
  assert.deepEqual(y.shape, [4, 3, 2]);
});

test('Reshape allowzero=1 keeps a 0 as an empty dim', async () => {
  const [y] = await checkKernel({
    opType: 'Reshape',
    inputs: [randomTensor([0, 3, 4]), int64([3, 4, 0])],
    attributes: { allowzero: 1 },
    constants: [1]
  });
  assert.deepEqual(y.shape, [3, 4, 0]);
  // Without allowzero the 0 copies the input's dim 2 (4), which no longer fits.
  assert.throws(
    () => reference({ opType: 'Reshape', inputs: [randomTensor([0, 3, 4]), int64([3, 4, 0])] }),
    /cannot reshape/
  );
});

test('Reshape of opset 1 takes its shape as an attribute', () => {
  const [y] = reference({
    opType: 'Reshape',
    inputs: [randomTensor([2, 6])],
    attributes: { shape: [3, -1] },
    opset: 1
  });
  assert.deepEqual(y.shape, [3, 4]);
});

test('Reshape rejects two -1s and sizes that do not fit, naming the node', () => {
  assert.throws(
    () => reference({ opType: 'Reshape', inputs: [randomTensor([2, 6]), int64([-1, -1])] }),
    (e: Error) => e instanceof OpError && /Reshape_0.*one -1/.test(e.message)
  );
  assert.throws(
    () => reference({ opType: 'Reshape', inputs: [randomTensor([2, 6]), int64([5, -1])] }),
    /cannot reshape/
  );
});

test('views: Reshape, Flatten, Squeeze, Unsqueeze, Identity neither copy nor dispatch', () => {
  const x = randomTensor([2, 1, 6]);
  const cases: NodeCase[] = [
    { opType: 'Reshape', inputs: [x, int64([3, 4])], constants: [1] },
    { opType: 'Flatten', inputs: [x] },
    { opType: 'Squeeze', inputs: [x, int64([1])], constants: [1] },
    { opType: 'Unsqueeze', inputs: [x, int64([0])], constants: [1] },
    { opType: 'Identity', inputs: [x] }
  ];
  for (const c of cases) {
    const { outputs, allocations, dispatches } = runRecorded(c);
    assert.equal(allocations + dispatches, 0, `${c.opType} copied`);
    assert.equal(outputs[0].size, 12, c.opType);
  }
  const dropout = runRecorded({ opType: 'Dropout', inputs: [x], outputs: 2 });
  assert.equal(dropout.allocations, 1, 'Dropout allocates only its mask');
});

// --- Flatten / Squeeze / Unsqueeze -----------------------------------------------------------

test('Flatten at axis 0, 2 and -1', async () => {
  for (const [axis, shape] of [
    [0, [1, 24]],
    [2, [6, 4]],
    [-1, [6, 4]]
  ] as const) {
    const [y] = await checkKernel({
      opType: 'Flatten',
      inputs: [randomTensor([2, 3, 4])],
      attributes: { axis }
    });
    assert.deepEqual(y.shape, shape, `axis ${axis}`);
  }
});

test('Squeeze: axes attribute (opset 11), input (opset 13), negative, none', async () => {
  const x = randomTensor([1, 3, 1, 2]);
  const cases: [NodeCase, number[]][] = [
    [{ opType: 'Squeeze', inputs: [x], attributes: { axes: [0, 2] }, opset: 11 }, [3, 2]],
    [{ opType: 'Squeeze', inputs: [x, int64([-2])], constants: [1], opset: 13 }, [1, 3, 2]],
    [{ opType: 'Squeeze', inputs: [x], opset: 13 }, [3, 2]]
  ];
  for (const [c, shape] of cases) {
    const [y] = await checkKernel(c);
    assert.deepEqual(y.shape, shape);
    assert.deepEqual(values(y), values(x));
  }
  assert.throws(
    () => reference({ opType: 'Squeeze', inputs: [x, int64([1])], opset: 13 }),
    /cannot squeeze axis 1 of size 3/
  );
});

test('Unsqueeze: axes attribute (opset 11), input (opset 13), negative and unsorted', async () => {
  const x = randomTensor([3, 2]);
  const cases: [NodeCase, number[]][] = [
    [{ opType: 'Unsqueeze', inputs: [x], attributes: { axes: [0, 3] }, opset: 11 }, [1, 3, 2, 1]],
    [{ opType: 'Unsqueeze', inputs: [x, int64([-1, 0])], constants: [1] }, [1, 3, 2, 1]],
    [{ opType: 'Unsqueeze', inputs: [x, int64([1])], opset: 13 }, [3, 1, 2]]
  ];
  for (const [c, shape] of cases) {
    const [y] = await checkKernel({ opset: 13, ...c });
    assert.deepEqual(y.shape, shape);
  }
  assert.throws(
    () => reference({ opType: 'Unsqueeze', inputs: [x, int64([0, 0])], constants: [1] }),
    /repeat an axis/
  );
});

// --- Identity / Dropout -------------------------------------------------------------------------

test('Identity', async () => {
  await checkKernel({ opType: 'Identity', inputs: [randomTensor([4, 5])] });
});

test('Dropout at inference: the input, and a mask of all true (bool from opset 10)', async () => {
  const x = randomTensor([3, 4]);
  const [y, mask] = await checkKernel({
    opType: 'Dropout',
    inputs: [x, Tensor.scalar('float32', 0.3)],
    constants: [1],
    outputs: 2
  });
  assert.deepEqual(values(y), values(x));
  assert.equal(mask.dtype, 'bool');
  assert.ok(values(mask).every(v => v === 1));
  const [, oldMask] = await checkKernel({ opType: 'Dropout', inputs: [x], outputs: 2, opset: 7 });
  assert.equal(oldMask.dtype, 'float32');
});

test('Dropout in training mode is refused unless its ratio is 0', () => {
  const x = randomTensor([2, 2]);
  const training = (ratio: number, mode: number): NodeCase => ({
    opType: 'Dropout',
    inputs: [x, Tensor.scalar('float32', ratio), Tensor.fromNumbers('bool', [], [mode])],
    constants: [1, 2]
  });
  assert.throws(() => singleNodeGraph(training(0.5, 1)), /training_mode is true/);
  assert.deepEqual(values(reference(training(0, 1))[0]), values(x));
  assert.deepEqual(values(reference(training(0.5, 0))[0]), values(x));
});

// --- Shape / Size ---------------------------------------------------------------------------------

test('Shape with opset 15 start / end, clamped and negative', () => {
  const x = randomTensor([2, 3, 4, 5]);
  const cases: [Record<string, number>, number[]][] = [
    [{}, [2, 3, 4, 5]],
    [{ start: 1 }, [3, 4, 5]],
    [{ start: -1 }, [5]],
    [{ end: -1 }, [2, 3, 4]],
    [{ start: 1, end: 3 }, [3, 4]],
    [{ start: -10, end: 10 }, [2, 3, 4, 5]],
    [{ start: 3, end: 1 }, []]
  ];
  for (const [attributes, expected] of cases) {
    const [y] = reference({ opType: 'Shape', inputs: [x], attributes });
    assert.equal(y.dtype, 'int64');
    assert.deepEqual(values(y), expected, JSON.stringify(attributes));
  }
  // Before opset 15 the attributes do not exist.
  const [all] = reference({ opType: 'Shape', inputs: [x], attributes: { start: 1 }, opset: 13 });
  assert.deepEqual(values(all), [2, 3, 4, 5]);
});

test('Shape and Size of a GPU tensor are known without reading it back', async () => {
  const graph = singleNodeGraph({ opType: 'Relu', inputs: [randomTensor([2, 3])] });
  graph.nodes.push(
    { name: 'shape', opType: 'Shape', domain: '', inputs: ['y0'], outputs: ['s'], attributes: {} },
    { name: 'size', opType: 'Size', domain: '', inputs: ['y0'], outputs: ['n'], attributes: {} }
  );
  graph.outputs = [
    { name: 's', dtype: 'int64' },
    { name: 'n', dtype: 'int64' }
  ];
  const { outputs, placements } = await new NativeExecutor(await testDevice()).run(graph, {
    x0: randomTensor([2, 3])
  });
  assert.equal(placements[0].device, 'webgpu');
  assert.deepEqual(values(outputs.s), [2, 3]);
  assert.deepEqual(values(outputs.n), [6]);
  assert.deepEqual(outputs.n.shape, []);
});

// --- Expand ---------------------------------------------------------------------------------------

test('Expand broadcasts both ways', async () => {
  const cases: [number[], number[], number[]][] = [
    [
      [3, 1],
      [2, 1, 4],
      [2, 3, 4]
    ],
    [
      [1, 4],
      [3, 1],
      [3, 4]
    ],
    [[2, 3], [3], [2, 3]],
    [[], [2, 2], [2, 2]]
  ];
  for (const [shape, target, expected] of cases) {
    const [y] = await checkKernel({
      opType: 'Expand',
      inputs: [randomTensor(shape), int64(target)],
      constants: [1]
    });
    assert.deepEqual(y.shape, expected);
  }
  assert.throws(
    () => reference({ opType: 'Expand', inputs: [randomTensor([3]), int64([4])] }),
    /cannot broadcast/
  );
});

// --- ConstantOfShape / Range / EyeLike ---------------------------------------------------------------

test('ConstantOfShape: float on the GPU, int64 on the host, default 0', async () => {
  const value = Tensor.fromNumbers('float32', [1], [1.5]);
  const [y] = await checkKernel({
    opType: 'ConstantOfShape',
    inputs: [int64([2, 3])],
    attributes: { value },
    constants: [0]
  });
  assert.ok(values(y).every(v => v === 1.5));
  const [ints] = reference({
    opType: 'ConstantOfShape',
    inputs: [int64([3])],
    attributes: { value: int64([7], [1]) }
  });
  assert.equal(ints.dtype, 'int64');
  assert.deepEqual(values(ints), [7, 7, 7]);
  const [zeros] = reference({ opType: 'ConstantOfShape', inputs: [int64([2])] });
  assert.equal(zeros.dtype, 'float32');
  assert.deepEqual(values(zeros), [0, 0]);
  const [scalar] = reference({ opType: 'ConstantOfShape', inputs: [int64([])] });
  assert.deepEqual(scalar.shape, []);
});

test('Range with positive and negative deltas, float and integer', () => {
  const cases: [Tensor[], number[]][] = [
    [[1, 7, 2].map(v => Tensor.scalar('float32', v)), [1, 3, 5]],
    [[10, 4, -3].map(v => Tensor.scalar('int32', v)), [10, 7]],
    [[0, 2.5, 0.5].map(v => Tensor.scalar('float32', v)), [0, 0.5, 1, 1.5, 2]],
    [[5, 1, 1].map(v => Tensor.scalar('int64', v)), []]
  ];
  for (const [inputs, expected] of cases) {
    const [y] = reference({ opType: 'Range', inputs, constants: [0, 1, 2] });
    assert.equal(y.dtype, inputs[0].dtype);
    assert.deepEqual(values(y), expected);
  }
});

test('EyeLike with k and dtype', async () => {
  const [y] = await checkKernel({
    opType: 'EyeLike',
    inputs: [randomTensor([3, 4])],
    attributes: { k: 1 }
  });
  assert.deepEqual(values(y), [0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
  const [below] = await checkKernel({
    opType: 'EyeLike',
    inputs: [randomTensor([3, 2])],
    attributes: { k: -1, dtype: 6 }
  });
  assert.equal(below.dtype, 'int32');
  assert.deepEqual(values(below), [0, 0, 1, 0, 0, 1]);
});

// --- shape inference of the single ops ----------------------------------------------------------------

test('inference keeps symbolic dims through the shape ops', () => {
  const x = { dtype: 'float32' as const, shape: ['N', 3, 'L'] };
  const infer = (opType: string, inputs: Parameters<typeof inferNode>[1], attributes = {}) =>
    inferNode(opType, inputs, attributes)[0].shape;
  assert.deepEqual(infer('Flatten', [x]), ['N', null]);
  assert.deepEqual(infer('Flatten', [x], { axis: 2 }), [null, 'L']);
  assert.deepEqual(infer('Unsqueeze', [x, int64([1])]), ['N', 1, 3, 'L']);
  assert.deepEqual(infer('Squeeze', [{ dtype: 'float32', shape: ['N', 1, 'L'] }]), ['N', 'L']);
  assert.deepEqual(infer('Reshape', [x, int64([0, 0, -1, 1])]), ['N', 3, 'L', 1]);
  assert.deepEqual(infer('Reshape', [x, int64([0, -1])]), ['N', null]);
  assert.deepEqual(infer('Reshape', [x, { dtype: 'int64', shape: [2] }]), [null, null]);
  assert.deepEqual(infer('Expand', [x, int64([2, 1, 1, 1])]), [2, 'N', 3, 'L']);
  assert.deepEqual(infer('Shape', [x]), [3]);
  assert.deepEqual(infer('Size', [x]), []);
  assert.deepEqual(infer('Identity', [{ dtype: 'float32' }]), undefined);
});

// --- ONNX backend conformance -------------------------------------------------------------------

/** Cases outside what the engine does: optional and sequence values, random training dropout. */
const NOT_SUPPORTED = new Set([
  'test_identity_opt',
  'test_identity_sequence',
  'test_training_dropout',
  'test_training_dropout_default',
  'test_training_dropout_default_mask',
  'test_training_dropout_mask'
]);

const SHAPE_CASES =
  /^test_(reshape|flatten|(un)?squeeze|shape|size|constantofshape|expand|identity|(training_)?dropout|range|eyelike)(_|$)/;

test(
  'ONNX conformance cases of the shape ops pass on the reference',
  { skip: conformanceSkip('test_reshape_zero_dim') },
  () => {
    const names = readdirSync(NODE_TESTS_DIR).filter(
      name => SHAPE_CASES.test(name) && !name.endsWith('_expanded') && !NOT_SUPPORTED.has(name)
    );
    assert.ok(names.length >= 60, `only ${names.length} cases found`);
    for (const name of names) {
      checkConformance(name);
    }
  }
);
