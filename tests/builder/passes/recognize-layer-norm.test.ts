import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recognizeLayerNorm } from '../../../src/engine/builder/passes/recognize-layer-norm';
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

const scalar = (value: number) => Tensor.scalar('float32', value);

/** LayerNorm of `x` over `axes`, spelled out; the names carry `tag`. */
function spelledLayerNorm(
  x: string,
  tag: string,
  options: { axes: number[]; opset: number; square?: 'Pow' | 'Mul'; beta?: string }
) {
  const name = (part: string) => `${part}_${tag}`;
  // From opset 18 the axes are an input (the initializer 'axes').
  const mean = (input: string, output: string) =>
    options.opset >= 18
      ? node('ReduceMean', [input, 'axes'], output)
      : node('ReduceMean', [input], output, { axes: options.axes });
  return [
    mean(x, name('mean')),
    node('Sub', [x, name('mean')], name('centered')),
    options.square === 'Mul'
      ? node('Mul', [name('centered'), name('centered')], name('squared'))
      : node('Pow', [name('centered'), 'two'], name('squared')),
    mean(name('squared'), name('variance')),
    node('Add', [name('variance'), 'epsilon'], name('shifted')),
    node('Sqrt', [name('shifted')], name('deviation')),
    node('Div', [name('centered'), name('deviation')], name('standardized')),
    node('Mul', [name('standardized'), 'gamma'], options.beta ? name('scaled') : tag),
    ...(options.beta ? [node('Add', [options.beta, name('scaled')], tag)] : [])
  ];
}

const parameters = (size: number, axes: number[]) => ({
  two: scalar(2),
  epsilon: scalar(1e-5),
  gamma: randomTensor([size], { seed: 11 }),
  beta: randomTensor([size], { seed: 12 }),
  axes: int64(axes)
});

test('LayerNorm spelled at opset 13 (axes attribute): one LayerNormalization, same outputs', () => {
  const graph = buildGraph({
    opset: 13,
    inputs: { x: ['batch', 5, 8] },
    outputs: ['y'],
    nodes: spelledLayerNorm('x', 'y', { axes: [-1], opset: 13, beta: 'beta' }),
    initializers: parameters(8, [-1])
  });
  const { graph: recognized, changes } = applyPass(recognizeLayerNorm, graph);
  assert.deepEqual(opTypes(recognized), ['LayerNormalization']);
  const [ln] = recognized.nodes;
  assert.deepEqual(ln.inputs, ['x', 'gamma', 'beta']);
  assert.deepEqual(ln.outputs, ['y']);
  assert.deepEqual(ln.attributes, { axis: 2, epsilon: Math.fround(1e-5) });
  assert.equal(ln.fusedFrom!.length, 9);
  assert.match(changes[0], /^recognized LayerNormalization 'Add:y' in 9 nodes/);
  assertSameOutputs(graph, recognized, randomFeeds(graph, 5, { batch: 2 }), 1e-5);
});

test('LayerNorm at opset 18 (axes input) over two axes, squared by Mul, without beta', () => {
  const graph = buildGraph({
    opset: 18,
    inputs: { x: [2, 3, 4] },
    outputs: ['y'],
    nodes: spelledLayerNorm('x', 'y', { axes: [1, 2], opset: 18, square: 'Mul' }),
    initializers: { ...parameters(4, [1, 2]) }
  });
  const { graph: recognized } = applyPass(recognizeLayerNorm, graph);
  assert.deepEqual(opTypes(recognized), ['LayerNormalization']);
  assert.deepEqual(recognized.nodes[0].inputs, ['x', 'gamma']);
  assert.equal(recognized.nodes[0].attributes.axis, 1);
  assertSameOutputs(graph, recognized, randomFeeds(graph, 6));
});

test('a residual Add after the affine map stays outside; a middle axis or a shared mean stay spelled', () => {
  const graph = buildGraph({
    opset: 13,
    inputs: { x: [2, 5, 8], m: [2, 8, 8], s: [2, 5, 8] },
    outputs: ['residual', 'middle', 'shared', 'mean_shared'],
    nodes: [
      // The Add reads a value shaped like x: not a bias, so the LayerNorm ends at the Mul.
      ...spelledLayerNorm('x', 'ln', { axes: [-1], opset: 13 }),
      node('Add', ['ln', 'x'], 'residual'),
      // Standardizing along a middle axis is not a LayerNormalization.
      ...spelledLayerNorm('m', 'middle', { axes: [1], opset: 13 }),
      // The mean of this one is a graph output too.
      ...spelledLayerNorm('s', 'shared', { axes: [-1], opset: 13 })
    ],
    initializers: parameters(8, [-1])
  });
  const { graph: result } = applyPass(recognizeLayerNorm, graph);
  assert.deepEqual(
    result.nodes.filter(n => n.opType === 'LayerNormalization').map(n => n.outputs[0]),
    ['ln']
  );
  assert.equal(result.nodes.find(n => n.outputs[0] === 'residual')?.opType, 'Add');
  assert.equal(result.nodes.length, graph.nodes.length - 7);
  assertSameOutputs(graph, result, randomFeeds(graph, 7));
});
