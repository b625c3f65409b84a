import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eliminateDeadNodes } from '../../../src/engine/builder/passes/eliminate-dead-nodes';
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

test('nodes and initializers that reach no graph output are removed', () => {
  const graph = buildGraph({
    inputs: { x: [2, 4] },
    outputs: ['y'],
    nodes: [
      node('Relu', ['x'], 'r'),
      // A dead chain: the Sigmoid is read only by the dead Mul.
      node('Sigmoid', ['x'], 's'),
      node('Mul', ['s', 'dead_weight'], 'unused'),
      node('Add', ['r', 'b'], 'y')
    ],
    initializers: {
      b: randomTensor([4], { seed: 1 }),
      dead_weight: randomTensor([4], { seed: 2 }),
      never_read: randomTensor([3], { seed: 3 })
    }
  });
  const { graph: pruned, changes } = applyPass(eliminateDeadNodes, graph);
  assert.deepEqual(opTypes(pruned), ['Relu', 'Add']);
  assert.deepEqual([...pruned.initializers.keys()], ['b']);
  assert.deepEqual(changes, [
    "removed Sigmoid 'Sigmoid:s': no graph output depends on it",
    "removed Mul 'Mul:unused': no graph output depends on it",
    "removed 2 unused initializer(s): 'dead_weight', 'never_read'"
  ]);
  assertSameOutputs(graph, pruned, randomFeeds(graph, 4));
});

test('a node with one live output stays whole, and unread graph inputs stay', () => {
  const graph = buildGraph({
    inputs: { x: [2, 4], unread: [3] },
    outputs: ['first'],
    nodes: [node('Split', ['x', 'sizes'], ['first', 'second'], { axis: 1 })],
    initializers: { sizes: int64([1, 3]) }
  });
  const { graph: pruned, changes } = applyPass(eliminateDeadNodes, graph);
  assert.deepEqual(changes, []);
  assert.deepEqual(pruned.nodes, graph.nodes);
  assert.deepEqual(
    pruned.inputs.map(i => i.name),
    ['x', 'unread']
  );
});

test('an initializer that is itself a graph output stays', () => {
  const graph = buildGraph({
    inputs: { x: [2] },
    outputs: ['y', 'c'],
    nodes: [node('Relu', ['x'], 'y')],
    initializers: { c: randomTensor([2], { seed: 5 }) }
  });
  const { graph: pruned, changes } = applyPass(eliminateDeadNodes, graph);
  assert.deepEqual(changes, []);
  assert.ok(pruned.initializers.has('c'));
});
