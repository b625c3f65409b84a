import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mergeSiblingMatMuls } from '../../../src/engine/builder/passes/merge-sibling-matmuls';
import { Node } from '../../../src/engine/ir/graph';
import { randomTensor } from '../../helpers/random';
import { applyPass, assertSameOutputs, buildGraph, node, opTypes, randomFeeds } from './graphs';

let seed = 0;
const random = (...shape: number[]) => randomTensor(shape, { seed: ++seed, low: -1, high: 1 });

const attention = (inputs: string[], output: string): Node => ({
  ...node('Attention', inputs, output, { num_heads: 2, scale: 0.25 }),
  domain: 'webtrt'
});

describe('mergeSiblingMatMuls', () => {
  test('Q, K and V of an Attention: one MatMul and one bias Add, read packed, no Split', () => {
    const graph = buildGraph({
      inputs: { x: ['batch', 5, 8], mask: ['batch', 1, 1, 5] },
      outputs: ['y'],
      nodes: [
        node('MatMul', ['x', 'w_q'], 'q_product'),
        node('Add', ['b_q', 'q_product'], 'q'),
        node('MatMul', ['x', 'w_k'], 'k'),
        node('MatMul', ['x', 'w_v'], 'v_product'),
        node('Add', ['v_product', 'b_v'], 'v'),
        attention(['q', 'k', 'v', 'mask'], 'y')
      ],
      initializers: {
        w_q: random(8, 8),
        w_k: random(8, 8),
        w_v: random(8, 4),
        b_q: random(8),
        b_v: random(1, 4)
      }
    });
    const { graph: merged, changes } = applyPass(mergeSiblingMatMuls, graph);
    assert.deepEqual(opTypes(merged), ['MatMul', 'Add', 'Attention']);
    const [matmul, add, fused] = merged.nodes;
    assert.deepEqual(merged.initializers.get(matmul.inputs[1])!.shape, [8, 20]);
    assert.deepEqual(merged.initializers.get(add.inputs[1])!.shape, [20]);
    assert.deepEqual(matmul.fusedFrom, ['MatMul:q_product', 'MatMul:k', 'MatMul:v_product']);
    assert.deepEqual(add.fusedFrom, ['Add:q', 'Add:v']);
    assert.deepEqual(fused.inputs, [add.outputs[0], '', '', 'mask']);
    assert.deepEqual(fused.attributes.qkv_hidden_sizes, [8, 8, 4]);
    assert.deepEqual(changes, [
      "merged MatMul 'MatMul:q_product', MatMul 'MatMul:k', MatMul 'MatMul:v_product' " +
        "(N 8 + 8 + 4) into one, read packed by Attention 'Attention:y'"
    ]);
    assertSameOutputs(graph, merged, randomFeeds(graph, 21, { batch: 2 }));
  });

  test('Gemm siblings of a wide input: merged (transB alike or not) and split back', () => {
    const graph = buildGraph({
      inputs: { x: [3, 64] },
      outputs: ['a', 'b', 'c'],
      nodes: [
        node('Gemm', ['x', 'w_a', 'c_a'], 'a'),
        node('Gemm', ['x', 'w_b'], 'b', { transB: 1 }),
        node('Relu', ['x'], 'unrelated'),
        node('Gemm', ['x', 'w_c', 'c_c'], 'c_gemm'),
        node('Sigmoid', ['c_gemm'], 'c')
      ],
      initializers: {
        w_a: random(64, 6),
        w_b: random(5, 64),
        w_c: random(64, 4),
        c_a: random(6),
        c_c: random(1, 4)
      }
    });
    const { graph: merged } = applyPass(mergeSiblingMatMuls, graph);
    assert.deepEqual(opTypes(merged), ['Gemm', 'Split', 'Relu', 'Sigmoid']);
    const [gemm, split] = merged.nodes;
    assert.deepEqual(gemm.attributes, {});
    assert.deepEqual(merged.initializers.get(split.inputs[1])!.toIntegers(), [6, 5, 4]);
    assert.deepEqual(split.outputs, ['a', 'b', 'c_gemm']);
    assertSameOutputs(graph, merged, randomFeeds(graph, 22));
  });

  test('before opset 13 the Split sizes are an attribute', () => {
    const graph = buildGraph({
      inputs: { x: [2, 32] },
      outputs: ['a', 'b'],
      nodes: [node('MatMul', ['x', 'w_a'], 'a'), node('MatMul', ['x', 'w_b'], 'b')],
      initializers: { w_a: random(32, 3), w_b: random(32, 2) },
      opset: 11
    });
    const { graph: merged } = applyPass(mergeSiblingMatMuls, graph);
    const split = merged.nodes[1];
    assert.deepEqual(split.inputs.length, 1);
    assert.deepEqual(split.attributes, { axis: -1, split: [3, 2] });
    assertSameOutputs(graph, merged, randomFeeds(graph, 23));
  });

  test('stays when a Split would cost more than A read twice, or the operands do not fit', () => {
    const graph = buildGraph({
      inputs: { x: [4, 8], w_input: [8, 8] },
      outputs: ['narrow_a', 'narrow_b', 'scaled', 'plain', 'variable'],
      nodes: [
        // K = 8 saved once, 2 * (8 + 8) copied by the Split: not a win.
        node('MatMul', ['x', 'w_a'], 'narrow_a'),
        node('MatMul', ['x', 'w_b'], 'narrow_b'),
        node('Gemm', ['x', 'w_a'], 'scaled', { alpha: 2 }),
        node('Gemm', ['x', 'w_a', 'row_c'], 'plain'),
        node('MatMul', ['x', 'w_input'], 'variable')
      ],
      initializers: { w_a: random(8, 8), w_b: random(8, 8), row_c: random(4, 1) }
    });
    const { graph: kept, changes } = applyPass(mergeSiblingMatMuls, graph);
    assert.deepEqual(changes, []);
    assert.deepEqual(opTypes(kept), opTypes(graph));
  });

  test('an Attention that reads a projection twice, or one read elsewhere too, is left unpacked', () => {
    const graph = buildGraph({
      inputs: { x: [1, 5, 8] },
      outputs: ['y', 'z', 'k'],
      nodes: [
        node('MatMul', ['x', 'w_q'], 'q'),
        node('MatMul', ['x', 'w_k'], 'k'),
        node('MatMul', ['x', 'w_v'], 'v'),
        attention(['q', 'k', 'v'], 'y'),
        attention(['q', 'q', 'v'], 'z')
      ],
      initializers: { w_q: random(8, 8), w_k: random(8, 8), w_v: random(8, 8) }
    });
    const { changes } = applyPass(mergeSiblingMatMuls, graph);
    assert.deepEqual(changes, []);
  });
});
