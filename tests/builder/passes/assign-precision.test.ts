import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BuilderConfig } from '../../../src/engine/builder/config';
import { PassResult, withInferredTypes } from '../../../src/engine/builder/pass';
import { assignPrecision } from '../../../src/engine/builder/passes/assign-precision';
import { Graph } from '../../../src/engine/ir/graph';
import { randomTensor } from '../../helpers/random';
import { applyPass, assertSameOutputs, buildGraph, node, opTypes, randomFeeds } from './graphs';

/** Relative error FP16 storage may add to these small graphs. */
const FP16_TOLERANCE = 1e-2;

const fp16: BuilderConfig = { precision: 'fp16' };

/** The pass's result with the value types shape inference gives it, as builds see it. */
function assign(config: BuilderConfig, graph: Graph): PassResult {
  const { graph: result, changes } = applyPass(assignPrecision(config), graph);
  return { graph: withInferredTypes(result), changes };
}

function dtypeOf(graph: Graph, name: string): string | undefined {
  return (graph.initializers.get(name) ?? graph.valueTypes.get(name))?.dtype;
}

/**
 * x -> Relu -> Mod (no GPU kernel: FP32) -> Add(bias) -> Sigmoid -> y, with the bias weight
 * and the Sigmoid's output a graph output too.
 */
function chain(): Graph {
  return buildGraph({
    inputs: { x: [2, 8] },
    outputs: ['y', 'a'],
    nodes: [
      node('Relu', ['x'], 'r'),
      node('Mod', ['r', 'divisor'], 'm', { fmod: 1 }),
      node('Add', ['m', 'bias'], 'a'),
      node('Sigmoid', ['a'], 'y')
    ],
    initializers: {
      divisor: randomTensor([8], { seed: 1, low: 2, high: 3 }),
      bias: randomTensor([8], { seed: 2 })
    }
  });
}

test('fp16: layers with FP16 kernels turn float16, reformats go where precisions meet', () => {
  const graph = chain();
  const { graph: half, changes } = assign(fp16, graph);
  assert.deepEqual(
    half.nodes.map(n => n.name),
    [
      'x reformat to float16',
      'Relu:r',
      'r reformat to float32',
      'Mod:m',
      'm reformat to float16',
      'Add:a',
      'a reformat to float32',
      'Sigmoid:y',
      'y reformat to float32'
    ]
  );
  assert.deepEqual(opTypes(half).filter(t => t === 'Cast').length, 5);
  // Graph inputs and outputs keep their names and types; the FP16 values inside are float16.
  assert.equal(dtypeOf(half, 'x'), 'float32');
  assert.equal(dtypeOf(half, 'y'), 'float32');
  assert.equal(dtypeOf(half, 'a'), 'float32');
  assert.equal(dtypeOf(half, 'r'), 'float16');
  assert.equal(dtypeOf(half, 'm'), 'float32');
  const add = half.nodes.find(n => n.name === 'Add:a')!;
  assert.equal(dtypeOf(half, add.outputs[0]), 'float16');
  // The Sigmoid reads the Add's float16 output, not the graph output's float32 copy.
  assert.deepEqual(half.nodes.find(n => n.name === 'Sigmoid:y')!.inputs, add.outputs);
  // Weights read only by FP16 layers are float16 on the host; the Mod's stays float32.
  assert.equal(dtypeOf(half, 'bias'), 'float16');
  assert.equal(dtypeOf(half, 'divisor'), 'float32');
  assert.ok(changes.includes("layer 'Add:a' (Add) runs in fp16"));
  assert.ok(!changes.some(c => c.includes("'Mod:m' (Mod) runs")));
  assertSameOutputs(graph, half, randomFeeds(graph, 3), FP16_TOLERANCE);
});

test("'best' chooses as 'fp16' does until INT8 joins; 'fp32' changes nothing", () => {
  const graph = chain();
  const best = assign({ precision: 'best' }, graph);
  const half = assign(fp16, graph);
  assert.deepEqual(best.graph.nodes, half.graph.nodes);
  const full = assign({ precision: 'fp32' }, graph);
  assert.deepEqual(full.changes, []);
  assert.deepEqual(full.graph.nodes, graph.nodes);
});

test('a weight read by FP16 and FP32 layers gets a float16 copy', () => {
  const graph = buildGraph({
    inputs: { x: [3, 4] },
    outputs: ['y', 'z'],
    nodes: [node('Add', ['x', 'w'], 'y'), node('Mul', ['x', 'w'], 'z')],
    initializers: { w: randomTensor([4], { seed: 4 }) }
  });
  const config: BuilderConfig = { precision: 'fp16', layerPrecisions: { 'Mul:z': 'fp32' } };
  const { graph: half } = assign(config, graph);
  const add = half.nodes.find(n => n.name === 'Add:y')!;
  const mul = half.nodes.find(n => n.name === 'Mul:z')!;
  assert.deepEqual(add.inputs, ['x_fp16', 'w_fp16']);
  assert.deepEqual(mul.inputs, ['x', 'w']);
  assert.equal(dtypeOf(half, 'w'), 'float32');
  assert.equal(dtypeOf(half, 'w_fp16'), 'float16');
  assert.deepEqual(
    [...half.initializers.get('w_fp16')!.toNumbers()].map(v => v.toPrecision(3)),
    [...graph.initializers.get('w')!.toNumbers()].map(v => v.toPrecision(3))
  );
  assertSameOutputs(graph, half, randomFeeds(graph, 5), FP16_TOLERANCE);
});

test('layerPrecisions: fp16 layers in an fp32 engine, by node name or a name fused into a layer', () => {
  const graph = buildGraph({
    inputs: { x: [2, 5] },
    outputs: ['y'],
    nodes: [
      node('Relu', ['x'], 'r'),
      { ...node('Tanh', ['r'], 't'), name: 'fused', fusedFrom: ['Tanh_0', 'Neg_1'] },
      node('Neg', ['t'], 'y')
    ]
  });
  const config: BuilderConfig = { precision: 'fp32', layerPrecisions: { Neg_1: 'fp16' } };
  const { graph: mixed } = assign(config, graph);
  assert.deepEqual(
    mixed.nodes.map(n => n.name),
    ['Relu:r', 'r reformat to float16', 'fused', 't reformat to float32', 'Neg:y']
  );
  assertSameOutputs(graph, mixed, randomFeeds(graph, 6), FP16_TOLERANCE);

  // fp32 wins when the names of a fused layer disagree.
  const split: BuilderConfig = {
    precision: 'fp16',
    layerPrecisions: { Neg_1: 'fp16', Tanh_0: 'fp32' }
  };
  const { graph: held } = assign(split, graph);
  assert.equal(dtypeOf(held, 't'), 'float32');
  assert.equal(dtypeOf(held, 'r'), 'float16');
});

test('integer, bool and host-read tensors keep their types', () => {
  const graph = buildGraph({
    inputs: { x: [2, 3], k: [2, 3] },
    inputTypes: { k: 'int32' },
    outputs: ['y', 'n'],
    nodes: [
      node('Greater', ['x', 'zero'], 'positive'),
      node('Where', ['positive', 'x', 'floor'], 'w'),
      node('Clip', ['w', 'low', 'high'], 'y'),
      node('Add', ['k', 'k'], 'n')
    ],
    initializers: {
      zero: randomTensor([1], { seed: 7, low: 0, high: 0.1 }),
      floor: randomTensor([3], { seed: 8 }),
      low: randomTensor([], { seed: 9, low: -0.5, high: -0.4 }),
      high: randomTensor([], { seed: 10, low: 0.4, high: 0.5 })
    }
  });
  const { graph: half } = assign(fp16, graph);
  assert.equal(dtypeOf(half, 'positive'), 'bool');
  assert.equal(dtypeOf(half, 'n'), 'int32');
  assert.equal(dtypeOf(half, 'w'), 'float16');
  // Clip's bounds are read on the host: they stay float32 weights.
  assert.equal(dtypeOf(half, 'low'), 'float32');
  assert.equal(dtypeOf(half, 'floor'), 'float16');
  assert.ok(!half.nodes.some(n => n.name.startsWith('k reformat')));
  const feeds = {
    x: randomTensor([2, 3], { seed: 11 }),
    k: randomTensor([2, 3], { seed: 12, dtype: 'int32', low: -9, high: 9 })
  };
  assertSameOutputs(graph, half, feeds, FP16_TOLERANCE);
});

test('layerPrecisions naming no node, or holding a layer without an FP16 kernel to fp16, fail', () => {
  const graph = chain();
  assert.throws(
    () =>
      assignPrecision({
        precision: 'fp16',
        layerPrecisions: { 'Relu:r': 'fp32', Gone: 'fp16', Lost: 'fp32' }
      })(graph),
    /layerPrecisions names 'Gone', 'Lost', which the graph has no node of/
  );
  // A node the earlier passes removed is known to the builder, and no error.
  const folded = assignPrecision(
    { precision: 'fp16', layerPrecisions: { Folded: 'fp32' } },
    { importedNodes: ['Folded', ...graph.nodes.map(n => n.name)] }
  );
  assert.doesNotThrow(() => folded(graph));
  assert.throws(
    () => assignPrecision({ precision: 'fp32', layerPrecisions: { 'Mod:m': 'fp16' } })(graph),
    /layerPrecisions holds layer 'Mod:m' \(Mod\) to fp16, but its kernel has no FP16 variant/
  );
});
