import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recognizeGelu } from '../../../src/engine/builder/passes/recognize-gelu';
import { Tensor } from '../../../src/engine/ir/tensor';
import { applyPass, assertSameOutputs, buildGraph, node, opTypes, randomFeeds } from './graphs';

const scalar = (value: number) => Tensor.scalar('float32', value);

const CONSTANTS = {
  sqrt2: scalar(Math.SQRT2),
  invSqrt2: scalar(Math.SQRT1_2),
  one: scalar(1),
  half: scalar(0.5),
  two: scalar(2)
};

test("Gelu as torch.onnx spells it before opset 20 and as Hugging Face's x * 0.5 * (1 + erf)", () => {
  const graph = buildGraph({
    opset: 17,
    inputs: { x: ['batch', 6] },
    outputs: ['torch', 'hf'],
    nodes: [
      // Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)
      node('Div', ['x', 'sqrt2'], 'd1'),
      node('Erf', ['d1'], 'e1'),
      node('Add', ['e1', 'one'], 'a1'),
      node('Mul', ['x', 'a1'], 'm1'),
      node('Mul', ['m1', 'half'], 'torch'),
      // Mul(Mul(x, 0.5), Add(1, Erf(Mul(x, 1/√2))))
      node('Mul', ['x', 'invSqrt2'], 'd2'),
      node('Erf', ['d2'], 'e2'),
      node('Add', ['one', 'e2'], 'a2'),
      node('Mul', ['x', 'half'], 'm2'),
      node('Mul', ['m2', 'a2'], 'hf')
    ],
    initializers: CONSTANTS
  });
  const { graph: recognized, changes } = applyPass(recognizeGelu, graph);
  assert.deepEqual(opTypes(recognized), ['Gelu', 'Gelu']);
  assert.deepEqual(
    recognized.nodes.map(n => [n.inputs, n.outputs]),
    [
      [['x'], ['torch']],
      [['x'], ['hf']]
    ]
  );
  assert.deepEqual(recognized.nodes[0].fusedFrom, [
    'Div:d1',
    'Erf:e1',
    'Add:a1',
    'Mul:m1',
    'Mul:torch'
  ]);
  assert.equal(changes.length, 2);
  assertSameOutputs(graph, recognized, randomFeeds(graph, 4, { batch: 3 }));
});

test('near misses stay: another scale, Erf of another value, an intermediate read elsewhere', () => {
  const graph = buildGraph({
    inputs: { x: [2, 6], other: [2, 6] },
    outputs: ['scaled_by_two', 'other_erf', 'shared', 'e3'],
    nodes: [
      node('Div', ['x', 'two'], 'd1'),
      node('Erf', ['d1'], 'e1'),
      node('Add', ['e1', 'one'], 'a1'),
      node('Mul', ['x', 'a1'], 'm1'),
      node('Mul', ['m1', 'half'], 'scaled_by_two'),
      node('Div', ['other', 'sqrt2'], 'd2'),
      node('Erf', ['d2'], 'e2'),
      node('Add', ['e2', 'one'], 'a2'),
      node('Mul', ['x', 'a2'], 'm2'),
      node('Mul', ['m2', 'half'], 'other_erf'),
      node('Div', ['x', 'sqrt2'], 'd3'),
      node('Erf', ['d3'], 'e3'),
      node('Add', ['e3', 'one'], 'a3'),
      node('Mul', ['x', 'a3'], 'm3'),
      node('Mul', ['m3', 'half'], 'shared')
    ],
    initializers: CONSTANTS
  });
  const { graph: kept, changes } = applyPass(recognizeGelu, graph);
  assert.deepEqual(changes, []);
  assert.deepEqual(opTypes(kept), opTypes(graph));
});
