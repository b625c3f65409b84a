import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuseElementwiseChains } from '../../../src/engine/builder/passes/fuse-elementwise-chains';
import { Tensor } from '../../../src/engine/ir/tensor';
import { applyPass, assertSameOutputs, buildGraph, node, opTypes, randomFeeds } from './graphs';

const scalar = (value: number, shape: number[] = []) =>
  Tensor.fromNumbers('float32', shape, [value]);

test('a chain becomes one Elementwise node: scalars as literals, Clip bounds from inputs', () => {
  const graph = buildGraph({
    opset: 13,
    inputs: { x: ['batch', 4, 6] },
    outputs: ['y'],
    nodes: [
      node('Add', ['x', 'three'], 'shifted'),
      node('Clip', ['shifted', 'zero', 'six'], 'clipped'),
      node('Mul', ['x', 'clipped'], 'product'),
      node('Div', ['product', 'six'], 'y')
    ],
    initializers: { three: scalar(3), zero: scalar(0), six: scalar(6) }
  });
  const { graph: fused, changes } = applyPass(fuseElementwiseChains, graph);
  assert.deepEqual(opTypes(fused), ['Elementwise']);
  const [elementwise] = fused.nodes;
  assert.equal(elementwise.domain, 'webtrt');
  assert.deepEqual(elementwise.inputs, ['x']);
  assert.deepEqual(elementwise.outputs, ['y']);
  assert.deepEqual(elementwise.attributes.program, [
    'Add x0 3',
    'Clip t0 0 6',
    'Mul x0 t1',
    'Div t2 6'
  ]);
  assert.deepEqual(elementwise.fusedFrom, ['Add:shifted', 'Clip:clipped', 'Mul:product', 'Div:y']);
  assert.deepEqual(changes, [
    "fused 4 elementwise nodes (Add, Clip, Mul, Div) into Elementwise 'Div:y'"
  ]);
  assertSameOutputs(graph, fused, randomFeeds(graph, 1, { batch: 2 }));
});

test('a DAG with broadcast inputs and a value read twice inside; attributes kept; opset 9 Clip', () => {
  const graph = buildGraph({
    opset: 9,
    inputs: { a: [2, 3, 5], b: [3, 1], c: [5] },
    outputs: ['z'],
    nodes: [
      node('Mul', ['a', 'b'], 'ab'),
      node('Add', ['ab', 'c'], 'sum'),
      node('LeakyRelu', ['sum'], 'y', { alpha: 0.25 }),
      node('Sigmoid', ['y'], 'gate'),
      node('Mul', ['gate', 'y'], 'gated'),
      node('Clip', ['gated'], 'z', { min: -0.5, max: 1 })
    ]
  });
  const { graph: fused } = applyPass(fuseElementwiseChains, graph);
  assert.deepEqual(opTypes(fused), ['Elementwise']);
  assert.deepEqual(fused.nodes[0].inputs, ['a', 'b', 'c']);
  assert.deepEqual(fused.nodes[0].attributes.program, [
    'Mul x0 x1',
    'Add t0 x2',
    'LeakyRelu t1 alpha=0.25',
    'Sigmoid t2',
    'Mul t3 t2',
    'Clip t4 -0.5 1'
  ]);
  assertSameOutputs(graph, fused, randomFeeds(graph, 2));
});

test('values read outside the group end it; single ops, integers and variable bounds stay', () => {
  const graph = buildGraph({
    opset: 13,
    inputs: { x: [4, 4], w: [4, 4], n: [4], lo: [] },
    inputTypes: { n: 'int32' },
    outputs: ['out', 'also_output', 'alone', 'ints', 'clipped'],
    nodes: [
      // 'r' is read by a MatMul too: Relu ends one group, Exp -> Neg forms another.
      node('Add', ['x', 'one'], 's'),
      node('Relu', ['s'], 'r'),
      node('MatMul', ['r', 'w'], 'm'),
      node('Exp', ['r'], 'e'),
      node('Neg', ['e'], 'out'),
      // A graph output inside a chain ends the group there.
      node('Sigmoid', ['x'], 'also_output'),
      node('Tanh', ['also_output'], 'alone'),
      node('Abs', ['n'], 'n_abs'),
      node('Neg', ['n_abs'], 'ints'),
      node('Clip', ['m', 'lo'], 'clip_m'),
      node('Relu', ['clip_m'], 'clipped')
    ],
    initializers: { one: scalar(1) }
  });
  const { graph: fused } = applyPass(fuseElementwiseChains, graph);
  assert.deepEqual(opTypes(fused), [
    'Elementwise',
    'MatMul',
    'Elementwise',
    'Sigmoid',
    'Tanh',
    'Abs',
    'Neg',
    'Clip',
    'Relu'
  ]);
  assert.deepEqual(fused.nodes[0].attributes.program, ['Add x0 1', 'Relu t0']);
  assert.deepEqual(fused.nodes[2].inputs, ['r']);
  const feeds = randomFeeds(graph, 3);
  feeds.n = Tensor.fromNumbers('int32', [4], [3, -2, 5, -7]);
  assertSameOutputs(graph, fused, feeds);
});

test('a scalar constant with more dims than the other operand stays an input; seven inputs at most (eight Adds of nine inputs make two groups)', () => {
  const inputs = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`x${i}`, [3]]));
  const sums = Array.from({ length: 8 }, (_, i) =>
    node('Add', [i === 0 ? 'x0' : `s${i - 1}`, `x${i + 1}`], `s${i}`)
  );
  const graph = buildGraph({
    inputs,
    outputs: ['grown', 's7'],
    nodes: [node('Mul', ['x0', 'big_one'], 'scaled'), node('Relu', ['scaled'], 'grown'), ...sums],
    initializers: { big_one: scalar(2, [1, 1]) }
  });
  const { graph: fused } = applyPass(fuseElementwiseChains, graph);
  assert.deepEqual(fused.nodes[0].inputs, ['x0', 'big_one']);
  assert.deepEqual(fused.nodes[0].attributes.program, ['Mul x0 x1', 'Relu t0']);
  assert.deepEqual(
    fused.nodes.slice(1).map(n => [n.opType, n.inputs.length]),
    [
      ['Elementwise', 3],
      ['Elementwise', 7]
    ]
  );
  assertSameOutputs(graph, fused, randomFeeds(graph, 4));
  assert.deepEqual(fused.valueTypes.get('grown')?.shape, [1, 3]);
});
