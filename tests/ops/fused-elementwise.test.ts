import assert from 'node:assert/strict';
import { test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { withInferredTypes } from '../../src/engine/builder/pass';
import { Graph, Node } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { NativeExecutor } from '../../src/engine/runtime/native';
import { runReference } from '../../src/engine/runtime/reference';
import { assertClose } from '../helpers/compare';
import { UNTUNED, testDevice } from '../helpers/gpu';
import { HALF_KERNEL_TOLERANCE } from '../helpers/half';
import { randomTensor } from '../helpers/random';

/** A graph of one webtrt::Elementwise node running `program` over inputs x0, x1, .... */
function fusedGraph(program: string[], inputs: Tensor[]): Graph {
  return withInferredTypes({
    name: 'fused',
    opsets: { '': 17, webtrt: 1 },
    inputs: inputs.map((t, i) => ({ name: `x${i}`, dtype: t.dtype, shape: [...t.shape] })),
    outputs: [{ name: 'y', dtype: inputs[0].dtype }],
    nodes: [
      {
        name: 'fused',
        opType: 'Elementwise',
        domain: 'webtrt',
        inputs: inputs.map((_, i) => `x${i}`),
        outputs: ['y'],
        attributes: { program }
      }
    ],
    initializers: new Map(),
    valueTypes: new Map()
  });
}

/**
 * The same program as one ai.onnx node per step (scalars as initializers), the graph the
 * fusion replaces: the fused node's reference must give its bytes exactly.
 */
function unfusedGraph(program: string[], inputs: Tensor[]): Graph {
  const initializers = new Map<string, Tensor>();
  const nodes: Node[] = program.map((text, index) => {
    const [opType, ...tokens] = text.split(' ');
    const operands = tokens.filter(t => !t.includes('='));
    const attributes = Object.fromEntries(
      tokens
        .filter(t => t.includes('='))
        .map(t => t.split('='))
        .map(([name, value]) => [name, Number.isNaN(Number(value)) ? value : Number(value)])
    );
    const names = operands.map(operand => {
      if (operand === '_' || /^[xt]\d+$/.test(operand)) {
        return operand === '_' ? '' : operand;
      }
      const name = `c${initializers.size}`;
      initializers.set(name, Tensor.scalar(inputs[0].dtype, Number(operand)));
      return name;
    });
    const output = index === program.length - 1 ? 'y' : `t${index}`;
    return { name: output, opType, domain: '', inputs: names, outputs: [output], attributes };
  });
  return withInferredTypes({
    name: 'unfused',
    opsets: { '': 13 },
    inputs: inputs.map((t, i) => ({ name: `x${i}`, dtype: t.dtype, shape: [...t.shape] })),
    outputs: [{ name: 'y', dtype: inputs[0].dtype }],
    nodes,
    initializers,
    valueTypes: new Map()
  });
}

/**
 * Runs `program` fused on the CPU reference (bit for bit the unfused ops' result) and on
 * the WebGPU kernel (within `tolerance`); returns the output.
 */
async function checkProgram(program: string[], inputs: Tensor[], tolerance = 1e-5) {
  const feeds = Object.fromEntries(inputs.map((t, i) => [`x${i}`, t]));
  const graph = fusedGraph(program, inputs);
  const expected = runReference(unfusedGraph(program, inputs), feeds).y;
  const reference = runReference(graph, feeds).y;
  assert.deepEqual(reference.shape, expected.shape);
  assert.deepEqual(reference.data, expected.data, 'the fused reference differs from the ops');
  const { outputs, placements } = await new NativeExecutor(await testDevice()).run(graph, feeds);
  assert.equal(placements[0].device, 'webgpu', `ran on the CPU: ${placements[0].reason}`);
  assertClose(outputs.y, expected, tolerance);
  return expected;
}

const HARD_SWISH = ['Add x0 3', 'Clip t0 0 6', 'Mul x0 t1', 'Div t2 6'];

test('HardSwish spelled out, four elements per invocation (same shapes, size a multiple of 4)', async () => {
  const y = await checkProgram(HARD_SWISH, [randomTensor([2, 3, 8], { low: -5, high: 5 })]);
  assert.deepEqual(y.shape, [2, 3, 8]);
});

test('broadcast inputs read at their own offsets, one or four outputs per invocation', async () => {
  const program = ['Mul x0 x1', 'Add t0 x2', 'Relu t1', 'Sub t2 x0'];
  const y = await checkProgram(program, [
    randomTensor([2, 3, 4, 5], { seed: 1 }),
    randomTensor([3, 1, 1], { seed: 2 }),
    randomTensor([1, 5], { seed: 3 })
  ]);
  assert.deepEqual(y.shape, [2, 3, 4, 5]);
  // An input smaller than the output that broadcasts over the first one's dims.
  await checkProgram(
    ['Mul x0 x1', 'Sigmoid t0'],
    [randomTensor([4, 1], { seed: 4 }), randomTensor([3, 1, 7], { seed: 5 })]
  );
  await checkProgram(HARD_SWISH, [randomTensor([3, 5, 7], { low: -5, high: 5 })]);
  // Four per invocation with broadcasting: a per-channel gate and a bias along the rows.
  await checkProgram(
    ['Sigmoid x1', 'Mul x0 t0', 'Add t1 x2'],
    [
      randomTensor([2, 3, 4, 8], { seed: 6 }),
      randomTensor([2, 3, 1, 1], { seed: 7 }),
      randomTensor([8], { seed: 8 })
    ]
  );
});

test('a DAG over every kind of step: shared values, variadic Max, a one-sided Clip, attributes, helpers defined once', async () => {
  const program = [
    'Gelu x0',
    'Tanh x0',
    'Mul t0 t1',
    'Pow t2 2',
    'Max t3 x1 0.25',
    'Clip t4 _ 1.5',
    'Mish t5',
    'LeakyRelu x1 alpha=0.125',
    'Gelu t7 approximate=tanh',
    'Div t6 t8',
    'PRelu t9 x2',
    'HardSigmoid t10 alpha=0.3 beta=0.4',
    'Min t11 t9'
  ];
  await checkProgram(program, [
    randomTensor([2, 6, 4], { seed: 6 }),
    randomTensor([2, 6, 4], { seed: 7, low: 0.5, high: 2 }),
    randomTensor([6, 1], { seed: 8 })
  ]);
});

test('float16 values: rounded after each step on the CPU, once on the GPU', async () => {
  const inputs = [
    randomTensor([4, 8], { dtype: 'float16', seed: 9, low: -5, high: 5 }),
    randomTensor([8], { dtype: 'float16', seed: 10 })
  ];
  const y = await checkProgram([...HARD_SWISH, 'Mul t3 x1', 'Exp t4'], inputs, 4e-3);
  assert.equal(y.dtype, 'float16');
});

test('as an FP16 layer: f16 storage where the device has shader-f16, float16 in f32 elsewhere', async () => {
  const x = randomTensor([4, 8], { seed: 11, low: -5, high: 5 });
  const cases: [string[], Tensor[]][] = [
    [HARD_SWISH, [x]],
    [
      ['Mul x0 x1', 'Tanh t0'],
      [x, randomTensor([8], { seed: 12 })]
    ]
  ];
  for (const [program, inputs] of cases) {
    const feeds = Object.fromEntries(inputs.map((t, i) => [`x${i}`, t]));
    const engine = await build(
      fusedGraph(program, inputs),
      { ...UNTUNED, precision: 'fp16' },
      await testDevice()
    );
    try {
      assert.equal(engine.layers.find(l => l.name === 'fused')?.precision, 'fp16');
      const expected = runReference(engine.graph, feeds).y;
      const actual = await engine.createContext().execute(feeds);
      assertClose(actual.y, expected, HALF_KERNEL_TOLERANCE);
    } finally {
      engine.destroy();
    }
  }
});

test('shape inference follows the steps with symbolic dims', () => {
  const graph = withInferredTypes({
    ...fusedGraph(['Add x0 x1', 'Relu t0'], [randomTensor([2, 8]), randomTensor([8])]),
    inputs: [
      { name: 'x0', dtype: 'float32', shape: ['batch', 8] },
      { name: 'x1', dtype: 'float32', shape: [1, 8] }
    ]
  });
  assert.deepEqual(graph.valueTypes.get('y'), { dtype: 'float32', shape: ['batch', 8] });
});

test('programs that do not hold together are refused with the step and the reason', () => {
  const x = [randomTensor([2, 2])];
  assert.throws(
    () => fusedGraph(['Add x0 t1', 'Relu t0'], x),
    /step 0 'Add x0 t1': operand t1 names no earlier step/
  );
  assert.throws(() => fusedGraph(['Relu x1'], x), /operand x1 names no input/);
  assert.throws(
    () => fusedGraph(['MatMul x0 x0'], x),
    /'MatMul' is not an elementwise op a program can hold/
  );
  assert.throws(() => fusedGraph(['Add x0 three'], x), /operand 'three' is neither/);
  assert.throws(() => fusedGraph([], x), /'program' must list at least one step/);
  assert.throws(
    () =>
      fusedGraph(['Add x0 x1'], [randomTensor([2, 2]), randomTensor([2, 2], { dtype: 'int32' })]),
    /inputs must share one float type, got float32, int32/
  );
});
