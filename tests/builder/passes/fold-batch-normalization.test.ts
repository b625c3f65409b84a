import assert from 'node:assert/strict';
import { test } from 'node:test';
import { foldBatchNormalization } from '../../../src/engine/builder/passes/fold-batch-normalization';
import { AttributeValue, Dim, Node } from '../../../src/engine/ir/graph';
import { Tensor } from '../../../src/engine/ir/tensor';
import { randomTensor } from '../../helpers/random';
import {
  applyPass,
  assertSameOutputs,
  buildGraph,
  GraphSpec,
  node,
  opTypes,
  randomFeeds
} from './graphs';

/** BN parameters for `channels` channels; the variance stays positive. */
function bnParameters(channels: number, seed: number): Record<string, Tensor> {
  return {
    gamma: randomTensor([channels], { seed }),
    beta: randomTensor([channels], { seed: seed + 1 }),
    mean: randomTensor([channels], { seed: seed + 2 }),
    variance: randomTensor([channels], { seed: seed + 3, low: 0.1, high: 2 })
  };
}

function batchNorm(input: string, output = 'y', epsilon = 1e-3): Node {
  return node('BatchNormalization', [input, 'gamma', 'beta', 'mean', 'variance'], output, {
    epsilon
  });
}

/** Builds the graph, folds, and checks the result against the original on random inputs. */
function checkFold(spec: GraphSpec, expectedOps: string[], dims: Record<string, number> = {}) {
  const graph = buildGraph(spec);
  const result = applyPass(foldBatchNormalization, graph);
  assert.deepEqual(opTypes(result.graph), expectedOps);
  assertSameOutputs(graph, result.graph, randomFeeds(graph, 7, dims));
  return result;
}

function conv(
  x: Dim[],
  attributes: Record<string, AttributeValue>,
  weightShape: number[],
  bias: boolean
): GraphSpec {
  const channels = weightShape[0];
  return {
    inputs: { x },
    outputs: ['z'],
    nodes: [
      node('Conv', bias ? ['x', 'w', 'b'] : ['x', 'w'], 'c', attributes),
      batchNorm('c'),
      node('Relu', ['y'], 'z')
    ],
    initializers: {
      w: randomTensor(weightShape, { seed: 1 }),
      ...(bias ? { b: randomTensor([channels], { seed: 2 }) } : {}),
      ...bnParameters(channels, 3)
    }
  };
}

test('BatchNormalization folds into the Conv before it, with or without a bias', () => {
  for (const bias of [true, false]) {
    const spec = conv(['batch', 3, 6, 6], { pads: [1, 1, 1, 1] }, [4, 3, 3, 3], bias);
    const { graph, changes } = checkFold(spec, ['Conv', 'Relu'], { batch: 2 });
    assert.deepEqual(changes, [
      "folded BatchNormalization 'BatchNormalization:y' into Conv 'Conv:c'"
    ]);
    const folded = graph.nodes[0];
    assert.deepEqual(folded.outputs, ['y']);
    assert.equal(folded.inputs.length, 3);
    assert.deepEqual(graph.initializers.get(folded.inputs[2])!.shape, [4]);
    // The original weight is kept for whoever else may read it; dead-node elimination drops it.
    assert.ok(graph.initializers.has('w'));
  }
});

test('a depthwise Conv folds per output channel', () => {
  const spec = conv([1, 4, 5, 5], { group: 4 }, [4, 1, 3, 3], true);
  checkFold(spec, ['Conv', 'Relu']);
});

test('the fold matches BatchNormalization in float64 before rounding to float32', () => {
  const spec: GraphSpec = {
    inputs: { x: [1, 1, 1, 1] },
    outputs: ['y'],
    nodes: [node('Conv', ['x', 'w', 'b'], 'c'), batchNorm('c', 'y', 0.25)],
    initializers: {
      w: Tensor.fromNumbers('float32', [1, 1, 1, 1], [3]),
      b: Tensor.fromNumbers('float32', [1], [1]),
      gamma: Tensor.fromNumbers('float32', [1], [2]),
      beta: Tensor.fromNumbers('float32', [1], [0.5]),
      mean: Tensor.fromNumbers('float32', [1], [4]),
      variance: Tensor.fromNumbers('float32', [1], [0.75])
    }
  };
  const { graph } = checkFold(spec, ['Conv']);
  const [, w, b] = graph.nodes[0].inputs;
  // scale = 2 / sqrt(0.75 + 0.25) = 2; W = 3 * 2; B = (1 - 4) * 2 + 0.5.
  assert.deepEqual([...graph.initializers.get(w)!.data], [6]);
  assert.deepEqual([...graph.initializers.get(b)!.data], [-5.5]);
});

test('a Conv output with a second reader, or that is a graph output, does not fold', () => {
  for (const outputs of [
    ['z', 'c2'],
    ['z', 'c']
  ]) {
    const spec = conv([1, 3, 5, 5], {}, [4, 3, 3, 3], true);
    spec.outputs = outputs;
    spec.nodes.push(node('Sigmoid', ['c'], 'c2'));
    const graph = buildGraph(spec);
    const { graph: kept, changes } = applyPass(foldBatchNormalization, graph);
    assert.deepEqual(changes, []);
    assert.deepEqual(opTypes(kept), opTypes(graph));
  }
});

test('BatchNormalization parameters fed at run time do not fold', () => {
  const spec = conv([1, 3, 5, 5], {}, [4, 3, 3, 3], true);
  const { mean, ...constants } = spec.initializers!;
  spec.initializers = constants;
  spec.inputs.mean = [...mean.shape];
  const graph = buildGraph(spec);
  assert.deepEqual(applyPass(foldBatchNormalization, graph).changes, []);
});

for (const transB of [0, 1]) {
  test(`BatchNormalization folds into Gemm (transB = ${transB}), scaling C by beta`, () => {
    for (const withC of [true, false]) {
      const bShape = transB ? [5, 3] : [3, 5];
      checkFold(
        {
          inputs: { x: [2, 3] },
          outputs: ['y'],
          nodes: [
            node('Gemm', withC ? ['x', 'w', 'bias'] : ['x', 'w'], 'g', {
              alpha: 0.5,
              beta: 2,
              transB
            }),
            batchNorm('g')
          ],
          initializers: {
            w: randomTensor(bShape, { seed: 11 }),
            bias: randomTensor([1, 5], { seed: 12 }),
            ...bnParameters(5, 13)
          }
        },
        ['Gemm']
      );
    }
  });
}

test('a Gemm bias that differs per row does not fold', () => {
  const graph = buildGraph({
    inputs: { x: [2, 3] },
    outputs: ['y'],
    nodes: [node('Gemm', ['x', 'w', 'bias'], 'g'), batchNorm('g')],
    initializers: {
      w: randomTensor([3, 5], { seed: 14 }),
      bias: randomTensor([2, 5], { seed: 15 }),
      ...bnParameters(5, 16)
    }
  });
  assert.deepEqual(applyPass(foldBatchNormalization, graph).changes, []);
});

test('MatMul + Add(bias) + BatchNormalization become MatMul + Add', () => {
  const { graph, changes } = checkFold(
    {
      inputs: { x: ['batch', 3] },
      outputs: ['y'],
      nodes: [node('MatMul', ['x', 'w'], 'm'), node('Add', ['bias', 'm'], 'a'), batchNorm('a')],
      initializers: {
        w: randomTensor([3, 5], { seed: 21 }),
        bias: randomTensor([5], { seed: 22 }),
        ...bnParameters(5, 23)
      }
    },
    ['MatMul', 'Add'],
    { batch: 4 }
  );
  assert.deepEqual(changes, [
    "folded BatchNormalization 'BatchNormalization:y' into MatMul 'MatMul:m' and Add 'Add:a'"
  ]);
  assert.deepEqual(graph.nodes[1].outputs, ['y']);
});

test('MatMul + BatchNormalization: the BatchNormalization becomes an Add', () => {
  const { graph } = checkFold(
    {
      inputs: { x: [4, 3] },
      outputs: ['y'],
      nodes: [node('MatMul', ['x', 'w'], 'm'), batchNorm('m')],
      initializers: { w: randomTensor([3, 5], { seed: 31 }), ...bnParameters(5, 32) }
    },
    ['MatMul', 'Add']
  );
  assert.equal(graph.nodes[1].name, 'BatchNormalization:y');
});

test('a rank-3 MatMul does not fold: its channels are not the weight columns', () => {
  const graph = buildGraph({
    inputs: { x: [2, 5, 3] },
    outputs: ['y'],
    nodes: [node('MatMul', ['x', 'w'], 'm'), batchNorm('m')],
    initializers: { w: randomTensor([3, 4], { seed: 41 }), ...bnParameters(5, 42) }
  });
  assert.deepEqual(applyPass(foldBatchNormalization, graph).changes, []);
});
