import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPasses } from '../../../src/engine/builder/pass';
import { STANDARD_PASSES } from '../../../src/engine/builder/passes/index';
import { randomTensor } from '../../helpers/random';
import {
  assertSameOutputs,
  buildGraph,
  int64,
  node,
  opTypes,
  randomFeeds,
  snapshot
} from './graphs';

test('runPasses applies the passes in order, reports each, and infers the result', () => {
  const graph = buildGraph({
    inputs: { x: [2, 3] },
    outputs: ['y'],
    nodes: [
      node('Transpose', ['w'], 'wt', { perm: [1, 0] }),
      node('MatMul', ['x', 'wt'], 'm'),
      node('Identity', ['m'], 'i'),
      node('Reshape', ['i', 'shape'], 'r'),
      node('Relu', ['r'], 'y')
    ],
    initializers: { w: randomTensor([4, 3], { seed: 1 }), shape: int64([2, 4]) }
  });
  const before = snapshot(graph);
  const { graph: optimized, report } = runPasses(graph, STANDARD_PASSES);
  assert.deepEqual(snapshot(graph), before, 'runPasses mutated its input graph');
  assert.deepEqual(opTypes(optimized), ['FusedMatMul']);
  assert.deepEqual(
    report.map(r => [r.pass, r.changes.length]),
    [
      ['foldConstants', 1],
      ['eliminateIdentities', 2],
      ['foldBatchNormalization', 0],
      ['recognizeActivations', 0],
      ['recognizeLayerNorm', 0],
      ['recognizeSoftmax', 0],
      ['recognizeGelu', 0],
      ['fuseMatMulBias', 0],
      ['fuseAttention', 0],
      ['mergeSiblingMatMuls', 0],
      ['fuseConvActivation', 0],
      ['fuseMatMulActivation', 1],
      ['fuseElementwiseChains', 0],
      ['eliminateDeadNodes', 1]
    ]
  );
  // Types are those of the values left, nothing stale.
  assert.deepEqual([...optimized.valueTypes.keys()].sort(), ['wt', 'x', 'y']);
  assert.deepEqual(optimized.valueTypes.get('y')!.shape, [2, 4]);
  assertSameOutputs(graph, optimized, randomFeeds(graph, 2));
});
