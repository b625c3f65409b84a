import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dim, Graph, Node } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { inferShapes } from '../../src/engine/ops/infer';
import { NativeExecutor } from '../../src/engine/runtime/native';
import { runReference } from '../../src/engine/runtime/reference';
import { assertClose } from '../helpers/compare';
import { testDevice } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';

const int64 = (values: number[], shape = [values.length]) =>
  Tensor.fromNumbers('int64', shape, values);

function node(opType: string, inputs: string[], output: string, attributes = {}): Node {
  return { name: output, opType, domain: '', inputs, outputs: [output], attributes };
}

/**
 * The shape arithmetic PyTorch exports around a transpose and reshapes (opset 13):
 * the target dims are read off the running tensor with Shape / Gather, unsqueezed and
 * concatenated with constants, then fed to Reshape.
 */
function exportedGraph(inputShape: Dim[]): Graph {
  return {
    name: 'pytorch-like',
    opsets: { '': 13 },
    inputs: [{ name: 'x', dtype: 'float32', shape: inputShape }],
    outputs: ['same', 'merged', 'inferred', 'sliced'].map(name => ({ name, dtype: 'float32' })),
    nodes: [
      node('Transpose', ['x'], 'xt', { perm: [0, 2, 1] }),
      node('Shape', ['xt'], 'shape'),
      node('Gather', ['shape', 'zero'], 'batch'),
      node('Gather', ['shape', 'one'], 'seq'),
      node('Unsqueeze', ['batch', 'axis0'], 'batch_1d'),
      node('Unsqueeze', ['seq', 'axis0'], 'seq_1d'),
      // [batch, seq, 3]: the transposed tensor's own shape, rebuilt.
      node('Concat', ['batch_1d', 'seq_1d', 'three'], 'same_shape', { axis: 0 }),
      node('Reshape', ['xt', 'same_shape'], 'same'),
      // [batch, -1]: 3 · seq has no name, so it stays unknown.
      node('Concat', ['batch_1d', 'minus_one'], 'merged_shape', { axis: 0 }),
      node('Reshape', ['xt', 'merged_shape'], 'merged'),
      // [batch, -1, seq]: the -1 is what is left of [batch, seq, 3], i.e. 3.
      node('Concat', ['batch_1d', 'minus_one', 'seq_1d'], 'inferred_shape', { axis: 0 }),
      node('Reshape', ['xt', 'inferred_shape'], 'inferred'),
      // Shape[1:] of the input: [3, seq] (Slice of a symbolic shape value).
      node('Shape', ['x'], 'input_shape'),
      node('Slice', ['input_shape', 'one_1d', 'end'], 'tail'),
      node('Concat', ['tail', 'batch_1d'], 'sliced_shape', { axis: 0 }),
      node('Reshape', ['x', 'sliced_shape'], 'sliced')
    ],
    initializers: new Map([
      ['zero', int64([0], [])],
      ['one', int64([1], [])],
      ['one_1d', int64([1])],
      ['end', int64([Number.MAX_SAFE_INTEGER])],
      ['axis0', int64([0])],
      ['three', int64([3])],
      ['minus_one', int64([-1])]
    ]),
    valueTypes: new Map()
  };
}

function shapeOf(graph: Graph, name: string): Dim[] | undefined {
  return graph.valueTypes.get(name)?.shape;
}

test('symbolic dims flow through Shape, Gather, Unsqueeze, Concat into Reshape', () => {
  const graph = exportedGraph(['batch', 3, 'seq']);
  inferShapes(graph);
  assert.deepEqual(shapeOf(graph, 'xt'), ['batch', 'seq', 3]);
  assert.deepEqual(shapeOf(graph, 'shape'), [3]);
  assert.deepEqual(shapeOf(graph, 'batch'), []);
  assert.deepEqual(shapeOf(graph, 'same_shape'), [3]);
  assert.deepEqual(shapeOf(graph, 'same'), ['batch', 'seq', 3]);
  assert.deepEqual(shapeOf(graph, 'merged'), ['batch', null]);
  assert.deepEqual(shapeOf(graph, 'inferred'), ['batch', 3, 'seq']);
  assert.deepEqual(shapeOf(graph, 'tail'), [2]);
  assert.deepEqual(shapeOf(graph, 'sliced'), [3, 'seq', 'batch']);
  assert.deepEqual(
    graph.outputs.map(o => o.shape),
    [
      ['batch', 'seq', 3],
      ['batch', null],
      ['batch', 3, 'seq'],
      [3, 'seq', 'batch']
    ]
  );
});

test('with a concrete input the shape chain folds into known Reshape targets', () => {
  const graph = exportedGraph([2, 3, 5]);
  inferShapes(graph);
  assert.deepEqual(shapeOf(graph, 'same'), [2, 5, 3]);
  assert.deepEqual(shapeOf(graph, 'merged'), [2, 15]);
  assert.deepEqual(shapeOf(graph, 'inferred'), [2, 3, 5]);
  assert.deepEqual(shapeOf(graph, 'sliced'), [3, 5, 2]);
});

test('the exported graph runs on WebGPU as on the CPU reference, shape math on the host', async () => {
  const graph = exportedGraph(['batch', 3, 'seq']);
  inferShapes(graph);
  const feeds = { x: randomTensor([2, 3, 5]) };
  const expected = runReference(graph, feeds);
  const { outputs, placements } = await new NativeExecutor(await testDevice()).run(graph, feeds);
  for (const { name } of graph.outputs) {
    assertClose(outputs[name], expected[name], 0, name);
  }
  assert.deepEqual(outputs.inferred.shape, [2, 3, 5]);
  const placed = (opType: string) =>
    new Set(placements.filter(p => p.opType === opType).map(p => p.device));
  for (const opType of ['Transpose', 'Reshape']) {
    assert.deepEqual(placed(opType), new Set(['webgpu']), opType);
  }
  assert.deepEqual(placed('Shape'), new Set(['metadata']), 'Shape reads no data');
  for (const opType of ['Gather', 'Unsqueeze', 'Concat', 'Slice']) {
    assert.deepEqual(placed(opType), new Set(['cpu']), opType);
  }
});
