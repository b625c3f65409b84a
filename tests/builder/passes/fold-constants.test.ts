import assert from 'node:assert/strict';
import { test } from 'node:test';
import { foldConstants } from '../../../src/engine/builder/passes/fold-constants';
import { Tensor } from '../../../src/engine/ir/tensor';
import { randomTensor } from '../../helpers/random';
import {
  applyPass,
  assertSameOutputs,
  buildGraph,
  int64,
  node,
  opTypes,
  randomFeeds
} from './graphs';

test('weight transforms (Transpose, Cast, Reshape) fold into one initializer', () => {
  const graph = buildGraph({
    inputs: { x: [2, 6] },
    outputs: ['y'],
    nodes: [
      node('Transpose', ['w'], 'wt', { perm: [1, 0] }),
      node('Cast', ['wt'], 'wt32', { to: 1 }),
      node('Reshape', ['wt32', 'shape'], 'w2'),
      node('MatMul', ['x', 'w2'], 'y')
    ],
    initializers: {
      w: randomTensor([4, 6], { dtype: 'float64', seed: 1 }),
      shape: int64([6, 4])
    }
  });
  const { graph: folded, changes } = applyPass(foldConstants, graph);
  assert.deepEqual(opTypes(folded), ['MatMul']);
  assert.equal(changes.length, 3);
  assert.match(changes[0], /^folded Transpose 'Transpose:wt' into constant 'wt' \[6, 4\]$/);
  const w2 = folded.initializers.get('w2')!;
  assert.equal(w2.dtype, 'float32');
  assert.deepEqual(w2.shape, [6, 4]);
  assertSameOutputs(graph, folded, randomFeeds(graph, 10));
});

/** PyTorch's export of x.reshape(x.shape[0], -1): the target is read off x at run time. */
function flattenLikePyTorch(batch: number | string) {
  return buildGraph({
    inputs: { x: [batch, 3, 4] },
    outputs: ['y'],
    nodes: [
      node('Shape', ['x'], 'shape'),
      node('Gather', ['shape', 'zero'], 'n'),
      node('Unsqueeze', ['n', 'axes'], 'n_1d'),
      node('Concat', ['n_1d', 'minus_one'], 'target', { axis: 0 }),
      node('Reshape', ['x', 'target'], 'y')
    ],
    initializers: { zero: int64([0], []), axes: int64([0]), minus_one: int64([-1]) }
  });
}

test('the shape subgraph of a static input folds away', () => {
  const graph = flattenLikePyTorch(2);
  const { graph: folded } = applyPass(foldConstants, graph);
  assert.deepEqual(opTypes(folded), ['Reshape']);
  assert.deepEqual(folded.initializers.get('target')!.toIntegers(), [2, -1]);
  assertSameOutputs(graph, folded, randomFeeds(graph, 11));
});

test('the shape subgraph of a symbolic batch stays', () => {
  const graph = flattenLikePyTorch('batch');
  const { graph: folded, changes } = applyPass(foldConstants, graph);
  assert.deepEqual(changes, []);
  assert.deepEqual(opTypes(folded), opTypes(graph));
  assertSameOutputs(graph, folded, randomFeeds(graph, 12, { batch: 3 }));
});

test('a fold that would grow the model is left to run time', () => {
  const fill = Tensor.fromNumbers('float32', [1], [0.5]);
  const graph = buildGraph({
    inputs: { x: [64, 64] },
    outputs: ['big', 'small', 'tiled', 'expanded', 'transposed'],
    nodes: [
      // 4096 elements out of 2: stays.
      node('ConstantOfShape', ['big_shape'], 'big_fill', { value: fill }),
      node('Add', ['x', 'big_fill'], 'big'),
      // 16 elements: small enough to fold whatever the inputs.
      node('ConstantOfShape', ['small_shape'], 'small', { value: fill }),
      // Tile doubles a 2048-element weight: stays.
      node('Tile', ['half', 'repeats'], 'tiled_weight'),
      node('Mul', ['x', 'tiled_weight'], 'tiled'),
      node('Expand', ['row', 'big_shape'], 'expanded_row'),
      node('Sub', ['x', 'expanded_row'], 'expanded'),
      // Same size in and out: folds however large.
      node('Transpose', ['square'], 'transposed', { perm: [1, 0] })
    ],
    initializers: {
      big_shape: int64([64, 64]),
      small_shape: int64([4, 4]),
      half: randomTensor([32, 64], { seed: 2 }),
      repeats: int64([2, 1]),
      row: randomTensor([64], { seed: 3 }),
      square: randomTensor([64, 64], { seed: 4 })
    }
  });
  const { graph: folded } = applyPass(foldConstants, graph);
  assert.deepEqual(opTypes(folded), ['ConstantOfShape', 'Add', 'Tile', 'Mul', 'Expand', 'Sub']);
  assert.deepEqual(folded.initializers.get('small')!.shape, [4, 4]);
  assert.deepEqual(folded.initializers.get('transposed')!.shape, [64, 64]);
  assertSameOutputs(graph, folded, randomFeeds(graph, 13));
});

test('a node reading a graph input does not fold', () => {
  const graph = buildGraph({
    inputs: { x: [2, 3] },
    outputs: ['y'],
    nodes: [node('Add', ['x', 'b'], 'y')],
    initializers: { b: randomTensor([3], { seed: 5 }) }
  });
  const { graph: folded, changes } = applyPass(foldConstants, graph);
  assert.deepEqual(changes, []);
  assert.deepEqual(opTypes(folded), ['Add']);
});

test('a folded graph output becomes an initializer the executor still returns', () => {
  const graph = buildGraph({
    inputs: { x: [2, 3] },
    outputs: ['y', 'c'],
    nodes: [node('Relu', ['x'], 'y'), node('Neg', ['b'], 'c')],
    initializers: { b: randomTensor([3], { seed: 6 }) }
  });
  const { graph: folded } = applyPass(foldConstants, graph);
  assert.deepEqual(opTypes(folded), ['Relu']);
  assertSameOutputs(graph, folded, randomFeeds(graph, 14));
});

test('a node whose constant inputs fail names the node', () => {
  const graph = buildGraph({
    inputs: { x: [2] },
    outputs: ['y'],
    nodes: [node('Relu', ['x'], 'y')]
  });
  graph.nodes.push(node('Reshape', ['w', 'bad'], 'r'));
  graph.initializers.set('w', randomTensor([6], { seed: 7 }));
  graph.initializers.set('bad', int64([4, 4]));
  assert.throws(() => foldConstants(graph), /node 'Reshape:r' \(Reshape\)/);
});
