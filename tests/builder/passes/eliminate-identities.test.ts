import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eliminateIdentities } from '../../../src/engine/builder/passes/eliminate-identities';
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

test('Identity, Dropout and no-op Cast / Reshape / Flatten / Squeeze / Unsqueeze are bypassed', () => {
  const graph = buildGraph({
    inputs: { x: ['batch', 3, 4] },
    outputs: ['y'],
    nodes: [
      node('Relu', ['x'], 'a'),
      node('Identity', ['a'], 'b'),
      node('Dropout', ['b', 'ratio'], 'c'),
      node('Cast', ['c'], 'd', { to: 1 }),
      // [batch, 3, 4] → [batch, 3, 4]: 0 copies the batch dim.
      node('Reshape', ['d', 'same_shape'], 'e'),
      node('Unsqueeze', ['e', 'axes'], 'f'),
      node('Squeeze', ['f', 'axes'], 'g'),
      node('Reshape', ['g', 'rows'], 'h'),
      // [batch, 12] stays [batch, 12]; y is a graph output, so the Reshape produces it.
      node('Flatten', ['h'], 'y', { axis: 1 })
    ],
    initializers: {
      ratio: Tensor.scalar('float32', 0.3),
      same_shape: int64([0, 3, 4]),
      rows: int64([0, -1]),
      axes: int64([1])
    }
  });
  const { graph: bypassed, changes } = applyPass(eliminateIdentities, graph);
  // Unsqueeze changes the shape (its Squeeze undoes it): both stay.
  assert.deepEqual(opTypes(bypassed), ['Relu', 'Unsqueeze', 'Squeeze', 'Reshape']);
  assert.deepEqual(bypassed.nodes[3].outputs, ['y']);
  assert.deepEqual(bypassed.nodes[1].inputs, ['a', 'axes']);
  assert.equal(changes[0], "bypassed Identity 'Identity:b': readers of 'b' read 'a'");
  assert.equal(changes[1], "bypassed Dropout 'Dropout:c': readers of 'c' read 'a'");
  assert.equal(changes.length, 5);
  assertSameOutputs(graph, bypassed, randomFeeds(graph, 1, { batch: 2 }));
});

test('shape changes, real casts and dropouts whose mask is read stay', () => {
  const graph = buildGraph({
    inputs: { x: [2, 3, 4], unknown: [null, 4] },
    outputs: ['reshaped', 'cast', 'dropped', 'mask', 'unknown_reshaped'],
    nodes: [
      node('Reshape', ['x', 'flat'], 'reshaped'),
      node('Cast', ['x'], 'cast', { to: 10 }),
      node('Dropout', ['x'], ['dropped', 'mask']),
      // Both shapes [?, 4]: an unknown dim is not known to be equal.
      node('Reshape', ['unknown', 'minus_one_four'], 'unknown_reshaped')
    ],
    initializers: { flat: int64([6, 4]), minus_one_four: int64([-1, 4]) }
  });
  assert.deepEqual(graph.valueTypes.get('unknown_reshaped')!.shape, [null, 4]);
  const { graph: kept, changes } = applyPass(eliminateIdentities, graph);
  assert.deepEqual(changes, []);
  assert.deepEqual(opTypes(kept), opTypes(graph));
});

test('a Dropout in training mode stays, unless its ratio is 0', () => {
  const graph = buildGraph({
    inputs: { x: [2, 3], training: [] },
    inputTypes: { training: 'bool' },
    outputs: ['fed_training', 'y'],
    nodes: [
      node('Dropout', ['x', 'half', 'training'], 'fed_training'),
      node('Dropout', ['x', 'zero', 'on'], 'no_drop'),
      node('Relu', ['no_drop'], 'y')
    ],
    initializers: {
      half: Tensor.scalar('float32', 0.5),
      zero: Tensor.scalar('float32', 0),
      on: Tensor.scalar('bool', 1)
    }
  });
  const { graph: bypassed, changes } = applyPass(eliminateIdentities, graph);
  assert.deepEqual(opTypes(bypassed), ['Dropout', 'Relu']);
  assert.deepEqual(bypassed.nodes[1].inputs, ['x']);
  assert.equal(changes.length, 1);
  const feeds = { x: randomTensor([2, 3], { seed: 4 }), training: Tensor.scalar('bool', 0) };
  assertSameOutputs(graph, bypassed, feeds);
});

test('an Identity feeding a graph output renames the producer, through chains', () => {
  const graph = buildGraph({
    inputs: { x: [2, 3] },
    outputs: ['y'],
    nodes: [
      node('Relu', ['x'], 'r'),
      node('Neg', ['r'], 'n'),
      node('Identity', ['r'], 'i1'),
      node('Identity', ['i1'], 'i2'),
      node('Add', ['i2', 'n'], 'sum'),
      node('Identity', ['sum'], 'y')
    ]
  });
  const { graph: bypassed, changes } = applyPass(eliminateIdentities, graph);
  assert.deepEqual(opTypes(bypassed), ['Relu', 'Neg', 'Add']);
  assert.deepEqual(bypassed.nodes[2].inputs, ['r', 'n']);
  assert.deepEqual(bypassed.nodes[2].outputs, ['y']);
  assert.equal(
    changes[2],
    "bypassed Identity 'Identity:y': Add 'Add:sum' produces graph output 'y'"
  );
  assertSameOutputs(graph, bypassed, randomFeeds(graph, 2));
});

test('an Identity of a graph input or of another graph output stays', () => {
  const graph = buildGraph({
    inputs: { x: [2, 3] },
    outputs: ['copy', 'r', 'r_copy', 'w_copy'],
    nodes: [
      node('Identity', ['x'], 'copy'),
      node('Relu', ['x'], 'r'),
      node('Identity', ['r'], 'r_copy'),
      node('Identity', ['w'], 'w_copy')
    ],
    initializers: { w: Tensor.fromNumbers('float32', [2], [1, 2]) }
  });
  const { graph: kept, changes } = applyPass(eliminateIdentities, graph);
  assert.deepEqual(changes, []);
  assert.deepEqual(opTypes(kept), opTypes(graph));
});

test('two Identities of one value into two graph outputs keep one node', () => {
  const graph = buildGraph({
    inputs: { x: [2, 3] },
    outputs: ['y1', 'y2'],
    nodes: [node('Relu', ['x'], 'r'), node('Identity', ['r'], 'y1'), node('Identity', ['r'], 'y2')]
  });
  const { graph: bypassed } = applyPass(eliminateIdentities, graph);
  assert.deepEqual(opTypes(bypassed), ['Relu', 'Identity']);
  assert.deepEqual(bypassed.nodes[1].inputs, ['y1']);
  assertSameOutputs(graph, bypassed, randomFeeds(graph, 3));
});
