import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuseMatMulBias } from '../../../src/engine/builder/passes/fuse-matmul-bias';
import { Tensor } from '../../../src/engine/ir/tensor';
import { randomTensor } from '../../helpers/random';
import { applyPass, assertSameOutputs, buildGraph, node, opTypes, randomFeeds } from './graphs';

test('MatMul + Add(bias) fuse into a Gemm, whichever side the bias is on', () => {
  const graph = buildGraph({
    inputs: { x: ['batch', 3], rows: ['batch', 5] },
    outputs: ['y', 'z'],
    nodes: [
      node('MatMul', ['x', 'w'], 'm1'),
      node('Add', ['m1', 'bias'], 'y'),
      node('MatMul', ['x', 'w'], 'm2'),
      // A bias computed after the MatMul, with as many rows as the product.
      node('Relu', ['rows'], 'row_bias'),
      node('Add', ['row_bias', 'm2'], 'z')
    ],
    initializers: { w: randomTensor([3, 5], { seed: 1 }), bias: randomTensor([1, 5], { seed: 2 }) }
  });
  const { graph: fused, changes } = applyPass(fuseMatMulBias, graph);
  assert.deepEqual(opTypes(fused), ['Gemm', 'Relu', 'Gemm']);
  assert.deepEqual(fused.nodes[2].inputs, ['x', 'w', 'row_bias']);
  assert.deepEqual(fused.nodes[2].outputs, ['z']);
  assert.deepEqual(fused.nodes[2].fusedFrom, ['MatMul:m2', 'Add:z']);
  assert.equal(changes[0], "fused MatMul 'MatMul:m1' and Add 'Add:y' into Gemm 'MatMul:m1'");
  assertSameOutputs(graph, fused, randomFeeds(graph, 3, { batch: 4 }));
});

test('MatMul + Add stay when the product has another reader, the rank is not 2 or the bias grows it', () => {
  const graph = buildGraph({
    inputs: { x: [4, 3], x3: [2, 4, 3] },
    outputs: ['shared', 'second_reader', 'batched', 'grown'],
    nodes: [
      node('MatMul', ['x', 'w'], 'm'),
      node('Add', ['m', 'bias'], 'shared'),
      node('Relu', ['m'], 'second_reader'),
      node('MatMul', ['x3', 'w'], 'm3'),
      node('Add', ['m3', 'bias'], 'batched'),
      node('MatMul', ['x', 'w'], 'm4'),
      node('Add', ['m4', 'batch_bias'], 'grown')
    ],
    initializers: {
      w: randomTensor([3, 5], { seed: 4 }),
      bias: randomTensor([5], { seed: 5 }),
      batch_bias: randomTensor([2, 1, 5], { seed: 6 })
    }
  });
  const { graph: kept, changes } = applyPass(fuseMatMulBias, graph);
  assert.deepEqual(changes, []);
  assert.deepEqual(opTypes(kept), opTypes(graph));
});

test('an integer MatMul stays: Gemm is for floating point', () => {
  const graph = buildGraph({
    inputs: { x: [2, 3] },
    inputTypes: { x: 'int32' },
    outputs: ['y'],
    nodes: [node('MatMul', ['x', 'w'], 'm'), node('Add', ['m', 'bias'], 'y')],
    initializers: {
      w: Tensor.fromNumbers('int32', [3, 2], [1, 2, 3, 4, 5, 6]),
      bias: Tensor.fromNumbers('int32', [2], [1, -1])
    }
  });
  assert.deepEqual(applyPass(fuseMatMulBias, graph).changes, []);
});
