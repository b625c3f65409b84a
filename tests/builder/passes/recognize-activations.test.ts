import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recognizeActivations } from '../../../src/engine/builder/passes/recognize-activations';
import { Tensor } from '../../../src/engine/ir/tensor';
import { applyPass, assertSameOutputs, buildGraph, node, opTypes, randomFeeds } from './graphs';

const scalar = (value: number) => Tensor.scalar('float32', value);

/** The constants the spellings below read. */
const CONSTANTS = {
  three: scalar(3),
  six: scalar(6),
  zero: scalar(0),
  sixth: scalar(1 / 6),
  two: scalar(2)
};

test("HardSwish spelled as Paddle exports it (opset 9: Clip's bounds as attributes, Div by 6)", () => {
  const graph = buildGraph({
    opset: 9,
    inputs: { x: ['batch', 4, 3] },
    outputs: ['y'],
    nodes: [
      node('Add', ['x', 'three'], 'shifted'),
      node('Clip', ['shifted'], 'clipped', { min: 0, max: 6 }),
      node('Mul', ['x', 'clipped'], 'product'),
      node('Div', ['product', 'six'], 'y')
    ],
    initializers: CONSTANTS
  });
  const { graph: recognized, changes } = applyPass(recognizeActivations, graph);
  assert.deepEqual(opTypes(recognized), ['HardSwish']);
  assert.deepEqual(recognized.nodes[0].inputs, ['x']);
  assert.deepEqual(recognized.nodes[0].outputs, ['y']);
  assert.equal(recognized.nodes[0].name, 'Div:y');
  assert.deepEqual(recognized.nodes[0].fusedFrom, [
    'Add:shifted',
    'Clip:clipped',
    'Mul:product',
    'Div:y'
  ]);
  assert.deepEqual(changes, ["recognized HardSwish 'Div:y' in 4 nodes (Add, Clip, Mul, Div)"]);
  assertSameOutputs(graph, recognized, randomFeeds(graph, 1, { batch: 2 }));
});

test('HardSwish with Clip bounds as inputs, 1/6 as a Mul, in any association and order', () => {
  const graph = buildGraph({
    opset: 13,
    inputs: { x: [2, 8] },
    outputs: ['a', 'b', 'c'],
    nodes: [
      node('Add', ['three', 'x'], 's1'),
      node('Clip', ['s1', 'zero', 'six'], 'c1'),
      node('Mul', ['c1', 'x'], 'p1'),
      node('Mul', ['sixth', 'p1'], 'a'),
      // x * (relu6(x + 3) / 6)
      node('Add', ['x', 'three'], 's2'),
      node('Clip', ['s2', 'zero', 'six'], 'c2'),
      node('Div', ['c2', 'six'], 'gate'),
      node('Mul', ['x', 'gate'], 'b'),
      // x * HardSigmoid(x) with PyTorch's hardswish constants
      node('HardSigmoid', ['x'], 'h', { alpha: Math.fround(1 / 6), beta: 0.5 }),
      node('Mul', ['h', 'x'], 'c')
    ],
    initializers: CONSTANTS
  });
  const { graph: recognized } = applyPass(recognizeActivations, graph);
  assert.deepEqual(opTypes(recognized), ['HardSwish', 'HardSwish', 'HardSwish']);
  assert.deepEqual(
    recognized.nodes.map(n => n.outputs[0]),
    ['a', 'b', 'c']
  );
  assertSameOutputs(graph, recognized, randomFeeds(graph, 2));
});

test('near misses stay: other constants, another factor, HardSigmoid defaults, a shared value', () => {
  const graph = buildGraph({
    opset: 13,
    inputs: { x: [2, 8], other: [2, 8] },
    outputs: ['wrong_shift', 'other_factor', 'default_sigmoid', 'shared', 'clipped_out'],
    nodes: [
      node('Add', ['x', 'two'], 's1'),
      node('Clip', ['s1', 'zero', 'six'], 'c1'),
      node('Mul', ['x', 'c1'], 'p1'),
      node('Div', ['p1', 'six'], 'wrong_shift'),
      node('Add', ['x', 'three'], 's2'),
      node('Clip', ['s2', 'zero', 'six'], 'c2'),
      node('Mul', ['other', 'c2'], 'p2'),
      node('Div', ['p2', 'six'], 'other_factor'),
      node('HardSigmoid', ['x'], 'h'),
      node('Mul', ['x', 'h'], 'default_sigmoid'),
      node('Add', ['x', 'three'], 's3'),
      node('Clip', ['s3', 'zero', 'six'], 'clipped_out'),
      node('Mul', ['x', 'clipped_out'], 'p3'),
      node('Div', ['p3', 'six'], 'shared')
    ],
    initializers: CONSTANTS
  });
  const { graph: kept, changes } = applyPass(recognizeActivations, graph);
  assert.deepEqual(changes, []);
  assert.deepEqual(opTypes(kept), opTypes(graph));
});
