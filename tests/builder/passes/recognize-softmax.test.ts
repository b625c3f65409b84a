import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recognizeSoftmax } from '../../../src/engine/builder/passes/recognize-softmax';
import {
  applyPass,
  assertSameOutputs,
  buildGraph,
  int64,
  node,
  opTypes,
  randomFeeds
} from './graphs';

/** Softmax of `x` spelled out; reductions over `axes` given as attributes or inputs. */
function spelledSoftmax(x: string, y: string, axes: number[], opset: number, stable = true) {
  const reduce = (opType: string, input: string, output: string) => {
    const asInput = opset >= (opType === 'ReduceSum' ? 13 : 18);
    return asInput
      ? node(opType, [input, `axes_${axes.join('_')}`], output)
      : node(opType, [input], output, { axes });
  };
  return [
    ...(stable
      ? [reduce('ReduceMax', x, `max_${y}`), node('Sub', [x, `max_${y}`], `shifted_${y}`)]
      : []),
    node('Exp', [stable ? `shifted_${y}` : x], `exp_${y}`),
    reduce('ReduceSum', `exp_${y}`, `sum_${y}`),
    node('Div', [`exp_${y}`, `sum_${y}`], y)
  ];
}

const AXES = { axes_1: int64([1]), 'axes_-1': int64([-1]) };

test('Softmax spelled with and without the max subtracted, at opsets 13 and 18', () => {
  for (const opset of [13, 18]) {
    const graph = buildGraph({
      opset,
      inputs: { x: ['batch', 3, 5] },
      outputs: ['middle', 'last'],
      nodes: [
        ...spelledSoftmax('x', 'middle', [1], opset),
        ...spelledSoftmax('x', 'last', [-1], opset, false)
      ],
      initializers: AXES
    });
    const { graph: recognized, changes } = applyPass(recognizeSoftmax, graph);
    assert.deepEqual(opTypes(recognized), ['Softmax', 'Softmax']);
    assert.deepEqual(
      recognized.nodes.map(n => [n.inputs[0], n.attributes.axis, n.fusedFrom!.length]),
      [
        ['x', 1, 5],
        ['x', 2, 3]
      ]
    );
    assert.equal(changes.length, 2);
    assertSameOutputs(graph, recognized, randomFeeds(graph, 8, { batch: 2 }));
  }
});

test('before opset 13 only the last axis fits Softmax; other near misses stay', () => {
  const graph = buildGraph({
    opset: 11,
    inputs: { x: [2, 3, 5], other: [2, 3, 5] },
    outputs: ['last', 'middle', 'other_sum', 'exp_shared'],
    nodes: [
      ...spelledSoftmax('x', 'last', [2], 11),
      ...spelledSoftmax('x', 'middle', [1], 11),
      // The sum is taken of another tensor's exponentials.
      node('Exp', ['x'], 'e'),
      node('Exp', ['other'], 'e_other'),
      node('ReduceSum', ['e_other'], 's', { axes: [2] }),
      node('Div', ['e', 's'], 'other_sum'),
      // The exponentials are a graph output.
      ...spelledSoftmax('x', 'shared', [2], 11)
    ]
  });
  const { graph: result } = applyPass(recognizeSoftmax, graph);
  assert.deepEqual(
    result.nodes.filter(n => n.opType === 'Softmax').map(n => n.outputs[0]),
    ['last']
  );
  assertSameOutputs(graph, result, randomFeeds(graph, 9));
});
