import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  fuseConvActivation,
  fuseMatMulActivation
} from '../../../src/engine/builder/passes/fuse-activations';
import { Graph, Node } from '../../../src/engine/ir/graph';
import { Tensor } from '../../../src/engine/ir/tensor';
import { randomTensor } from '../../helpers/random';
import { applyPass, assertSameOutputs, buildGraph, node, opTypes, randomFeeds } from './graphs';

const scalar = (value: number) => Tensor.scalar('float32', value);

function fusedNode(graph: Graph, opType: string): Node {
  const found = graph.nodes.find(n => n.opType === opType);
  assert.ok(found, `no ${opType} in [${opTypes(graph).join(', ')}]`);
  assert.equal(found.domain, 'webtrt');
  return found;
}

function values(graph: Graph, name: string): number[] {
  const tensor = graph.initializers.get(name);
  assert.ok(tensor, `'${name}' is no initializer`);
  return Array.from(tensor.toNumbers());
}

// --- Conv -------------------------------------------------------------------------------

/** x [1, 2, 5, 5] through a 3x3 Conv of 3 channels (padded: the output is [1, 3, 5, 5]). */
const CONV_WEIGHTS = {
  w: randomTensor([3, 2, 3, 3], { seed: 1 }),
  b: randomTensor([3], { seed: 2 })
};
const conv = (x: string, y: string, bias = true) =>
  node('Conv', bias ? [x, 'w', 'b'] : [x, 'w'], y, { pads: [1, 1, 1, 1] });

test('Conv + Add(bias) + Add(residual) + Relu become one FusedConv with the bias folded', () => {
  const graph = buildGraph({
    inputs: { x: [1, 2, 5, 5], z: [1, 3, 5, 5] },
    outputs: ['y'],
    nodes: [
      conv('x', 'c'),
      node('Add', ['per_channel', 'c'], 'biased'),
      node('Add', ['biased', 'z'], 'sum'),
      node('Relu', ['sum'], 'y')
    ],
    initializers: { ...CONV_WEIGHTS, per_channel: randomTensor([3, 1, 1], { seed: 3 }) }
  });
  const { graph: fused, changes } = applyPass(fuseConvActivation, graph);
  assert.deepEqual(opTypes(fused), ['FusedConv']);
  const layer = fusedNode(fused, 'FusedConv');
  assert.equal(layer.name, 'Conv:c');
  assert.deepEqual(layer.fusedFrom, ['Conv:c', 'Add:biased', 'Add:sum', 'Relu:y']);
  assert.deepEqual(layer.outputs, ['y']);
  const [x, w, b, z] = layer.inputs;
  assert.deepEqual([x, w, z], ['x', 'w', 'z']);
  const bias = CONV_WEIGHTS.b.toNumbers();
  const perChannel = graph.initializers.get('per_channel')!.toNumbers();
  values(fused, b).forEach((v, c) => assert.ok(Math.abs(v - (bias[c] + perChannel[c])) < 1e-6));
  assert.equal(layer.attributes.activation, 'Relu');
  assert.deepEqual(layer.attributes.pads, [1, 1, 1, 1]);
  assert.deepEqual(changes, [
    "fused Conv 'Conv:c' with Add 'Add:biased', Add 'Add:sum', Relu 'Relu:y' into FusedConv 'Conv:c'"
  ]);
  assertSameOutputs(graph, fused, randomFeeds(graph, 4));
});

test('Conv without a bias absorbs a per-channel scale and shift (Mul, Add) and a Clip', () => {
  const graph = buildGraph({
    inputs: { x: [1, 2, 5, 5] },
    outputs: ['y'],
    nodes: [
      conv('x', 'c', false),
      node('Mul', ['c', 'scale'], 'scaled'),
      node('Add', ['scaled', 'shift'], 'shifted'),
      node('Clip', ['shifted', 'low', 'high'], 'y')
    ],
    initializers: {
      w: CONV_WEIGHTS.w,
      scale: randomTensor([1, 3, 1, 1], { seed: 3 }),
      shift: randomTensor([3, 1, 1], { seed: 4 }),
      low: scalar(-0.5),
      high: scalar(1)
    }
  });
  const { graph: fused } = applyPass(fuseConvActivation, graph);
  assert.deepEqual(opTypes(fused), ['FusedConv']);
  const layer = fusedNode(fused, 'FusedConv');
  assert.notEqual(layer.inputs[1], 'w', 'the weights are scaled into a new initializer');
  assert.deepEqual(values(fused, layer.inputs[2]), values(graph, 'shift'));
  assert.equal(layer.attributes.activation, 'Clip');
  assert.deepEqual(layer.attributes.activation_params, [-0.5, 1]);
  assertSameOutputs(graph, fused, randomFeeds(graph, 5));
});

test('an activation before the residual Add ends the chain: Relu(x) + z is no Relu(x + z)', () => {
  const graph = buildGraph({
    inputs: { x: [1, 2, 5, 5], z: [1, 3, 5, 5] },
    outputs: ['y'],
    nodes: [conv('x', 'c'), node('Relu', ['c'], 'r'), node('Add', ['r', 'z'], 'y')],
    initializers: CONV_WEIGHTS
  });
  const { graph: fused } = applyPass(fuseConvActivation, graph);
  assert.deepEqual(opTypes(fused), ['FusedConv', 'Add']);
  assert.deepEqual(fused.nodes[0].fusedFrom, ['Conv:c', 'Relu:r']);
  assertSameOutputs(graph, fused, randomFeeds(graph, 6));
});

test('the residual of two Convs: one absorbs the Add and the other Conv is its Z', () => {
  const graph = buildGraph({
    inputs: { x: [1, 2, 5, 5] },
    outputs: ['y'],
    nodes: [
      conv('x', 'left'),
      node('Conv', ['x', 'w1x1'], 'right'),
      node('Add', ['left', 'right'], 'sum'),
      node('HardSwish', ['sum'], 'y')
    ],
    initializers: { ...CONV_WEIGHTS, w1x1: randomTensor([3, 2, 1, 1], { seed: 3 }) }
  });
  const { graph: fused } = applyPass(fuseConvActivation, graph);
  assert.deepEqual(opTypes(fused), ['Conv', 'FusedConv']);
  assert.deepEqual(fused.nodes[1].inputs, ['x', 'w', 'b', 'right']);
  assert.equal(fused.nodes[1].attributes.activation, 'HardSwish');
  assertSameOutputs(graph, fused, randomFeeds(graph, 7));
});

test('Conv chains stop at a value read twice, a graph output, or what does not fit', () => {
  const graph = buildGraph({
    inputs: { x: [1, 2, 5, 5], computed: [3, 1, 1], row: [1, 1, 1, 5] },
    outputs: [
      'read_twice',
      'also',
      'intermediate',
      'after_output',
      'c7',
      'y1',
      'y2',
      'y3',
      'y4',
      'y5'
    ],
    nodes: [
      // Read by two nodes.
      conv('x', 'c1'),
      node('Relu', ['c1'], 'read_twice'),
      node('Sigmoid', ['c1'], 'also'),
      // The biased value is a graph output: the bias folds, the Relu after it does not.
      conv('x', 'c2'),
      node('Add', ['c2', 'per_channel'], 'intermediate'),
      node('Relu', ['intermediate'], 'after_output'),
      // A computed bias of another shape than the output: neither bias nor residual.
      conv('x', 'c3'),
      node('Add', ['c3', 'computed'], 'y1'),
      // A constant varying along the width: no per-channel bias.
      conv('x', 'c4'),
      node('Add', ['c4', 'along_width'], 'y2'),
      // A Clip whose bound is computed is no activation a layer can apply.
      conv('x', 'c5'),
      node('ReduceMax', ['row'], 'bound', { keepdims: 0 }),
      node('Clip', ['c5', '', 'bound'], 'y3'),
      // A Mul by a computed scale.
      conv('x', 'c6'),
      node('Mul', ['c6', 'computed'], 'y4'),
      // The Conv's output is a graph output.
      conv('x', 'c7'),
      node('Relu', ['c7'], 'y5')
    ],
    initializers: {
      ...CONV_WEIGHTS,
      per_channel: randomTensor([3, 1, 1], { seed: 3 }),
      along_width: randomTensor([5], { seed: 4 })
    }
  });
  const { graph: fused, changes } = applyPass(fuseConvActivation, graph);
  assert.deepEqual(changes, [
    "fused Conv 'Conv:c2' with Add 'Add:intermediate' into FusedConv 'Conv:c2'"
  ]);
  assert.equal(opTypes(fused).filter(t => t === 'Conv').length, 6);
  assertSameOutputs(graph, fused, randomFeeds(graph, 8));
});

// --- MatMul and Gemm -------------------------------------------------------------------

test('MatMul + Add(bias) + Gelu over a batch become a FusedMatMul with C', () => {
  const graph = buildGraph({
    inputs: { x: ['batch', 'seq', 4] },
    outputs: ['y'],
    nodes: [
      node('MatMul', ['x', 'w'], 'm'),
      node('Add', ['bias', 'm'], 'biased'),
      node('Gelu', ['biased'], 'y')
    ],
    initializers: { w: randomTensor([4, 6], { seed: 1 }), bias: randomTensor([6], { seed: 2 }) },
    opset: 20
  });
  const { graph: fused } = applyPass(fuseMatMulActivation, graph);
  assert.deepEqual(opTypes(fused), ['FusedMatMul']);
  const layer = fusedNode(fused, 'FusedMatMul');
  assert.equal(layer.inputs.length, 3);
  assert.deepEqual(values(fused, layer.inputs[2]), values(graph, 'bias'));
  assert.deepEqual(layer.attributes, { activation: 'Gelu', activation_params: [0] });
  assertSameOutputs(graph, fused, randomFeeds(graph, 3, { batch: 2, seq: 3 }));
});

test('Gemm with beta * C, alpha and transposes + Add(bias) + Sigmoid: beta and the bias fold into C', () => {
  const graph = buildGraph({
    inputs: { x: [4, 3] },
    outputs: ['y'],
    nodes: [
      node('Gemm', ['x', 'w', 'c'], 'g', { alpha: 0.5, beta: 2, transA: 1, transB: 1 }),
      node('Add', ['g', 'bias'], 'biased'),
      node('Sigmoid', ['biased'], 'y')
    ],
    initializers: {
      w: randomTensor([5, 4], { seed: 1 }),
      c: randomTensor([3, 1], { seed: 2 }),
      bias: randomTensor([1, 5], { seed: 3 })
    }
  });
  const { graph: fused } = applyPass(fuseMatMulActivation, graph);
  const layer = fusedNode(fused, 'FusedMatMul');
  assert.deepEqual(layer.attributes, {
    alpha: 0.5,
    transA: 1,
    transB: 1,
    activation: 'Sigmoid',
    activation_params: []
  });
  const c = graph.initializers.get('c')!.toNumbers();
  const bias = graph.initializers.get('bias')!.toNumbers();
  const folded = values(fused, layer.inputs[2]);
  assert.equal(folded.length, 15);
  folded.forEach((v, i) =>
    assert.ok(Math.abs(v - (2 * c[Math.floor(i / 5)] + bias[i % 5])) < 1e-6, `C[${i}]`)
  );
  assertSameOutputs(graph, fused, randomFeeds(graph, 4));
});

test('Gemm with a computed C (beta 1) absorbs a residual Add and Tanh', () => {
  const graph = buildGraph({
    inputs: { x: [4, 3], c: [5], z: [4, 5] },
    outputs: ['y'],
    nodes: [
      node('Gemm', ['x', 'w', 'c'], 'g'),
      node('Add', ['z', 'g'], 'sum'),
      node('Tanh', ['sum'], 'y')
    ],
    initializers: { w: randomTensor([3, 5], { seed: 1 }) }
  });
  const { graph: fused } = applyPass(fuseMatMulActivation, graph);
  assert.deepEqual(opTypes(fused), ['FusedMatMul']);
  assert.deepEqual(fused.nodes[0].inputs, ['x', 'w', 'c', 'z']);
  assert.deepEqual(fused.nodes[0].fusedFrom, ['Gemm:g', 'Add:sum', 'Tanh:y']);
  assertSameOutputs(graph, fused, randomFeeds(graph, 5));
});

test('MatMul without a bias takes a residual as Z, after an omitted C', () => {
  const graph = buildGraph({
    inputs: { x: [2, 4, 3], z: [2, 4, 5] },
    outputs: ['y'],
    nodes: [node('MatMul', ['x', 'w'], 'm'), node('Add', ['m', 'z'], 'y')],
    initializers: { w: randomTensor([3, 5], { seed: 1 }) }
  });
  const { graph: fused } = applyPass(fuseMatMulActivation, graph);
  assert.deepEqual(opTypes(fused), ['FusedMatMul']);
  assert.deepEqual(fused.nodes[0].inputs, ['x', 'w', '', 'z']);
  assertSameOutputs(graph, fused, randomFeeds(graph, 6));
});

test('GEMMs stay: computed C with beta 2, bias down a column, a Mul, integers, a lone Gemm', () => {
  const graph = buildGraph({
    inputs: { x: [4, 3], c: [5], xi: [2, 3] },
    inputTypes: { xi: 'int32' },
    outputs: ['y1', 'y2', 'y3', 'y4', 'y5'],
    nodes: [
      node('Gemm', ['x', 'w', 'c'], 'g1', { beta: 2 }),
      node('Relu', ['g1'], 'y1'),
      node('MatMul', ['x', 'w'], 'm2'),
      node('Add', ['m2', 'column'], 'y2'),
      node('MatMul', ['x', 'w'], 'm3'),
      node('Mul', ['m3', 'row'], 'y3'),
      node('MatMul', ['xi', 'wi'], 'm4'),
      node('Relu', ['m4'], 'y4'),
      node('Gemm', ['x', 'w', 'row'], 'y5')
    ],
    initializers: {
      w: randomTensor([3, 5], { seed: 1 }),
      column: randomTensor([4, 1], { seed: 2 }),
      row: randomTensor([5], { seed: 3 }),
      wi: Tensor.fromNumbers('int32', [3, 2], [1, -2, 3, 4, -5, 6])
    }
  });
  const { graph: kept, changes } = applyPass(fuseMatMulActivation, graph);
  assert.deepEqual(changes, []);
  assert.deepEqual(opTypes(kept), opTypes(graph));
});
