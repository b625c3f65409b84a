import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BuilderConfig } from '../../../src/engine/builder/config';
import { withInferredTypes } from '../../../src/engine/builder/pass';
import { eliminateDeadNodes } from '../../../src/engine/builder/passes/eliminate-dead-nodes';
import { assignPrecision } from '../../../src/engine/builder/passes/assign-precision';
import { quantizeLayers } from '../../../src/engine/builder/passes/quantize-layers';
import { Graph, Node } from '../../../src/engine/ir/graph';
import { Tensor } from '../../../src/engine/ir/tensor';
import { quantizeWeightsPerChannel } from '../../../src/engine/quant/weights';
import { randomTensor } from '../../helpers/random';
import { applyPass, assertSameOutputs, buildGraph, node, opTypes, randomFeeds } from './graphs';

const X_SCALE = 0.02;

/** The pass, then dead-node elimination (which removes the Q/DQ pairs that INT8 layers absorbed). */
function quantize(config: BuilderConfig, graph: Graph) {
  const result = applyPass(quantizeLayers(config), graph);
  return { ...result, graph: withInferredTypes(eliminateDeadNodes(result.graph).graph) };
}

/** Conv weights whose every output channel holds a ±127 step: max-abs scales are exact. */
function exactWeights(shape: number[], seed: number): Tensor {
  const { values, scales } = quantizeWeightsPerChannel(randomTensor(shape, { seed }), 0);
  const perChannel = values.size / shape[0];
  const ints = values.toNumbers();
  return Tensor.fromNumbers(
    'float32',
    shape,
    Array.from(ints, (q, i) => q * scales[Math.floor(i / perChannel)])
  );
}

/** x -> Conv(3x3, pad 1, bias) -> Relu -> y, with the Conv's weights exact in int8. */
function convGraph(): Graph {
  return buildGraph({
    inputs: { x: [1, 6, 5, 5] },
    outputs: ['y'],
    nodes: [
      node('Conv', ['x', 'w', 'b'], 'c', { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
      node('Relu', ['c'], 'y')
    ],
    initializers: { w: exactWeights([4, 6, 3, 3], 1), b: randomTensor([4], { seed: 2 }) }
  });
}

const int8Zero = Tensor.fromNumbers('int8', [], [0]);
const scalar = (value: number) => Tensor.fromNumbers('float32', [], [value]);

/**
 * `graph` with x replaced by DequantizeLinear(QuantizeLinear(x)) in front of its first
 * node: the explicit form of what an INT8 layer computes from x.
 */
function withExplicitQdq(graph: Graph, zeroPoint = int8Zero): Graph {
  const [first, ...rest] = graph.nodes;
  return buildGraph({
    inputs: Object.fromEntries(graph.inputs.map(i => [i.name, i.shape!])),
    outputs: graph.outputs.map(o => o.name),
    nodes: [
      node('QuantizeLinear', ['x', 'x_scale', 'x_zero'], 'xq'),
      node('DequantizeLinear', ['xq', 'x_scale', 'x_zero'], 'xdq'),
      { ...first, inputs: ['xdq', ...first.inputs.slice(1)] },
      ...rest
    ],
    initializers: {
      ...Object.fromEntries(graph.initializers),
      x_scale: scalar(X_SCALE),
      x_zero: zeroPoint
    }
  });
}

test('implicit: a calibrated Conv input makes an Int8Conv computing the fake-quantized Conv', () => {
  const graph = convGraph();
  const { graph: int8, changes } = quantize(
    { precision: 'int8', int8Scales: { x: X_SCALE } },
    graph
  );
  assert.deepEqual(opTypes(int8), ['Int8Conv', 'Relu']);
  const layer = int8.nodes[0];
  assert.equal(layer.inputs[0], 'x');
  assert.equal(layer.attributes.x_scale, X_SCALE);
  assert.equal(int8.initializers.get(layer.inputs[1])!.dtype, 'int8');
  assert.deepEqual(int8.initializers.get(layer.inputs[2])!.shape, [4]);
  assert.ok(changes.some(c => c.includes("runs in int8 as Int8Conv: input 'x' scale 0.02")));
  const feeds = randomFeeds(graph, 3);
  // Exact integer sums against float ones: only float rounding differs.
  assertSameOutputs(withExplicitQdq(graph), int8, feeds, 1e-5);
  // And the quantization error itself stays small.
  assertSameOutputs(graph, int8, feeds, 5e-2);
});

test('implicit: a layer without a scale, or a precision without INT8, stays as it is', () => {
  const graph = convGraph();
  const missing = quantize({ precision: 'best', int8Scales: { other: 1 } }, graph);
  assert.deepEqual(opTypes(missing.graph), ['Conv', 'Relu']);
  assert.deepEqual(missing.changes, [
    "layer 'Conv:c' (Conv) stays out of int8: no INT8 scale for its input 'x'"
  ]);
  const zero = quantize({ precision: 'int8', int8Scales: { x: 0 } }, graph);
  assert.match(zero.changes[0], /its input 'x' has INT8 scale 0/);
  const fp16 = quantize({ precision: 'fp16', int8Scales: { x: X_SCALE } }, graph);
  assert.deepEqual(opTypes(fp16.graph), ['Conv', 'Relu']);
  assert.deepEqual(fp16.changes, []);
});

test('layerPrecisions: fp32 or fp16 keeps a layer out of int8, int8 asks for it', () => {
  const graph = convGraph();
  const scales = { x: X_SCALE };
  const kept = quantize(
    { precision: 'best', int8Scales: scales, layerPrecisions: { 'Conv:c': 'fp16' } },
    graph
  );
  assert.deepEqual(opTypes(kept.graph), ['Conv', 'Relu']);
  const asked = quantize(
    { precision: 'fp32', int8Scales: scales, layerPrecisions: { 'Conv:c': 'int8' } },
    graph
  );
  assert.deepEqual(opTypes(asked.graph), ['Int8Conv', 'Relu']);
  assert.throws(
    () => quantize({ precision: 'fp32', layerPrecisions: { 'Conv:c': 'int8' } }, graph),
    /layerPrecisions holds layer 'Conv:c' \(Conv\) to int8, but no INT8 scale for its input 'x'/
  );
});

test('explicit: a symmetric Q/DQ pair before a Conv is absorbed in any precision', () => {
  const graph = withExplicitQdq(convGraph());
  const { graph: int8, changes } = quantize({ precision: 'fp32' }, graph);
  assert.deepEqual(opTypes(int8), ['Int8Conv', 'Relu']);
  const layer = int8.nodes[0];
  assert.equal(layer.inputs[0], 'x');
  assert.deepEqual(layer.fusedFrom, ['QuantizeLinear:xq', 'DequantizeLinear:xdq', 'Conv:c']);
  assert.ok(changes.some(c => c.endsWith('(QuantizeLinear)')));
  assertSameOutputs(graph, int8, randomFeeds(graph, 4), 1e-5);
});

test('explicit: an asymmetric Q/DQ pair runs as it is, saying why', () => {
  const graph = withExplicitQdq(convGraph(), Tensor.fromNumbers('uint8', [], [128]));
  const { graph: kept, changes } = quantize({ precision: 'int8' }, graph);
  assert.deepEqual(opTypes(kept), opTypes(graph));
  assert.match(changes[0], /QuantizeLinear 'QuantizeLinear:xq' is not symmetric int8/);
});

test('explicit: a Q/DQ pair that others read too stays for them', () => {
  const graph = withExplicitQdq(convGraph());
  const shared = buildGraph({
    inputs: { x: [1, 6, 5, 5] },
    outputs: ['y', 'side'],
    nodes: [...graph.nodes, node('Sigmoid', ['xdq'], 'side')],
    initializers: Object.fromEntries(graph.initializers)
  });
  const { graph: int8 } = quantize({ precision: 'int8' }, shared);
  assert.deepEqual(opTypes(int8), [
    'QuantizeLinear',
    'DequantizeLinear',
    'Int8Conv',
    'Relu',
    'Sigmoid'
  ]);
  assertSameOutputs(shared, int8, randomFeeds(shared, 5), 1e-5);
});

test('Gemm with transB, alpha and a [1, N] bias becomes an Int8MatMul of the same product', () => {
  const b = randomTensor([5, 12], { seed: 6 });
  const graph = buildGraph({
    inputs: { x: [3, 12] },
    outputs: ['y'],
    nodes: [node('Gemm', ['x', 'b', 'c'], 'y', { transB: 1, alpha: 0.5 })],
    initializers: { b, c: randomTensor([1, 5], { seed: 7 }) }
  });
  const { graph: int8 } = quantize({ precision: 'int8', int8Scales: { x: X_SCALE } }, graph);
  const [layer] = int8.nodes as Node[];
  assert.equal(layer.opType, 'Int8MatMul');
  assert.deepEqual(int8.initializers.get(layer.inputs[1])!.shape, [12, 5]);
  assert.deepEqual(int8.initializers.get(layer.inputs[3])!.shape, [5]);
  assert.equal(layer.attributes.a_scale, X_SCALE);
  assert.equal(layer.attributes.alpha, undefined);
  assertSameOutputs(graph, int8, randomFeeds(graph, 8), 5e-2);
});

test('a GEMM whose weight is computed, or whose bias is not per column, stays', () => {
  const graph = buildGraph({
    inputs: { x: [3, 4], w: [4, 2] },
    outputs: ['y', 'z'],
    nodes: [node('MatMul', ['x', 'w'], 'y'), node('Gemm', ['x', 'v', 'c'], 'z')],
    initializers: { v: randomTensor([4, 2], { seed: 9 }), c: randomTensor([3, 2], { seed: 10 }) }
  });
  const { graph: kept, changes } = quantize({ precision: 'int8', int8Scales: { x: 1 } }, graph);
  assert.deepEqual(opTypes(kept), ['MatMul', 'Gemm']);
  assert.deepEqual(changes, [
    "layer 'MatMul:y' (MatMul) stays out of int8: its weight 'w' is not a constant",
    "layer 'Gemm:z' (Gemm) stays out of int8: its bias 'c' is not one value per column"
  ]);
});

test('a depthwise Conv stays out of int8 with the kernel reason', () => {
  const graph = buildGraph({
    inputs: { x: [1, 4, 6, 6] },
    outputs: ['y'],
    nodes: [node('Conv', ['x', 'w'], 'y', { group: 4, kernel_shape: [3, 3] })],
    initializers: { w: randomTensor([4, 1, 3, 3], { seed: 11 }) }
  });
  const { graph: kept, changes } = quantize({ precision: 'int8', int8Scales: { x: 1 } }, graph);
  assert.deepEqual(opTypes(kept), ['Conv']);
  assert.deepEqual(changes, [
    "layer 'Conv:y' (Conv) stays out of int8: depthwise: INT8 is not faster here"
  ]);
});

test("'best': an INT8 layer reads and writes float16, its weight scales stay float32", () => {
  const config: BuilderConfig = { precision: 'best', int8Scales: { x: X_SCALE } };
  const { graph: int8 } = quantize(config, convGraph());
  const half = withInferredTypes(assignPrecision(config)(int8).graph);
  const layer = half.nodes.find(n => n.opType === 'Int8Conv')!;
  const dtypes = layer.inputs.map(
    name => (half.initializers.get(name) ?? half.valueTypes.get(name))?.dtype
  );
  assert.deepEqual(dtypes, ['float16', 'int8', 'float32', 'float16']);
  assert.equal(half.valueTypes.get(layer.outputs[0])?.dtype, 'float16');
});
