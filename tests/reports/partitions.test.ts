import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { Graph, Node } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { importOnnx } from '../../src/engine/onnx/index';
import { partitionGraph } from '../../src/engine/reports/partitions';
import { UNTUNED, testDevice } from '../helpers/gpu';
import { GENERATED_MODELS } from '../models/oracle';

function load(file: string): Graph {
  return importOnnx(new Uint8Array(readFileSync(file)), { source: file });
}

function op(name: string, opType: string, inputs: string[], output: string, domain = ''): Node {
  return { name, opType, domain, inputs, outputs: [output], attributes: {} };
}

/**
 * x → Relu → Neg → Mod (no WebGPU kernel) → Custom (an op of another domain) → Add (of a
 * constant) → Abs → Sigmoid → y. Written out without shape inference, which would refuse the
 * custom op: partitioning needs no types.
 */
function graphWithFallbackInTheMiddle(): Graph {
  return {
    name: 'middle',
    opsets: { '': 17, 'com.example': 1 },
    inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }],
    outputs: [{ name: 'y', dtype: 'float32' }],
    nodes: [
      op('relu', 'Relu', ['x'], 'a'),
      op('neg', 'Neg', ['a'], 'b'),
      op('mod', 'Mod', ['b', 'x'], 'c'),
      op('custom', 'Custom', ['c'], 'd', 'com.example'),
      op('add', 'Add', ['d', 'bias'], 'e'),
      op('abs', 'Abs', ['e'], 'f'),
      op('sigmoid', 'Sigmoid', ['f'], 'y')
    ],
    initializers: new Map([['bias', Tensor.fromNumbers('float32', [4], [1, 2, 3, 4])]]),
    valueTypes: new Map()
  };
}

describe('partitionGraph', () => {
  test('runs of supported nodes are engines, the nodes between them fall back, naming their ops', () => {
    const partitions = partitionGraph(graphWithFallbackInTheMiddle(), undefined, {
      minimumSegmentSize: 1
    });
    assert.deepEqual(partitions.segments, [
      { id: 'engine 0', kind: 'engine', nodes: 2 },
      {
        id: 'fallback 1',
        kind: 'fallback',
        nodes: 2,
        reason: 'Mod has no WebGPU kernel; com.example::Custom is not supported'
      },
      { id: 'engine 2', kind: 'engine', nodes: 3 }
    ]);
    const segmentOf = Object.fromEntries(partitions.nodes.map(n => [n.id, n.segment]));
    assert.deepEqual(segmentOf, {
      x: undefined,
      relu: 'engine 0',
      neg: 'engine 0',
      mod: 'fallback 1',
      custom: 'fallback 1',
      add: 'engine 2',
      abs: 'engine 2',
      sigmoid: 'engine 2',
      y: undefined
    });
    assert.deepEqual(
      partitions.nodes.filter(n => n.role !== 'op'),
      [
        { id: 'x', opType: 'Input', role: 'input' },
        { id: 'y', opType: 'Output', role: 'output' }
      ]
    );
  });

  test('edges join producers to consumers per tensor; initializers draw none', () => {
    const { edges } = partitionGraph(graphWithFallbackInTheMiddle());
    assert.deepEqual(
      edges.map(({ from, to, tensor }) => `${from} -${tensor}-> ${to}`),
      [
        'x -x-> relu',
        'relu -a-> neg',
        'neg -b-> mod',
        'x -x-> mod',
        'mod -c-> custom',
        'custom -d-> add',
        'add -e-> abs',
        'abs -f-> sigmoid',
        'sigmoid -y-> y'
      ]
    );
  });

  test('engine segments under minimumSegmentSize (3 unless given) fall back, saying so', () => {
    const { segments } = partitionGraph(graphWithFallbackInTheMiddle());
    assert.deepEqual(
      segments.map(s => [s.id, s.reason]),
      [
        ['fallback 0', '2 nodes < minimum_segment_size 3'],
        ['fallback 1', 'Mod has no WebGPU kernel; com.example::Custom is not supported'],
        ['engine 2', undefined]
      ]
    );
    const single = partitionGraph(graphWithFallbackInTheMiddle(), undefined, {
      minimumSegmentSize: 4
    });
    assert.equal(single.segments[2].reason, '3 nodes < minimum_segment_size 4');
    assert.ok(single.segments.every(s => s.kind === 'fallback'));
    assert.throws(
      () => partitionGraph(graphWithFallbackInTheMiddle(), undefined, { minimumSegmentSize: 0 }),
      /minimumSegmentSize must be an integer of at least 1, got 0/
    );
  });

  test('ops the builder evaluates from shapes or constants stay in the engine', () => {
    // Shape of the input, then Mod of that constant-at-build-time value: both have no WebGPU
    // kernel, and both are folded once the build fixes the input shape. Mod of x is not.
    const graph: Graph = {
      ...graphWithFallbackInTheMiddle(),
      nodes: [
        op('shape', 'Shape', ['x'], 's'),
        op('mod_of_shape', 'Mod', ['s', 'two'], 'm'),
        op('reshape', 'Reshape', ['x', 'm'], 'r'),
        op('mod_of_x', 'Mod', ['r', 'x'], 'y')
      ],
      initializers: new Map([['two', Tensor.fromNumbers('int64', [1], [2])]])
    };
    assert.deepEqual(
      partitionGraph(graph).segments.map(s => [s.id, s.nodes, s.reason]),
      [
        ['engine 0', 3, undefined],
        ['fallback 1', 1, 'Mod has no WebGPU kernel']
      ]
    );
    // The example transformer reads the Shape of its input twice: one engine all the same.
    const transformer = load(`${GENERATED_MODELS}/small_transformer.onnx`);
    assert.ok(transformer.nodes.some(node => node.opType === 'Shape'));
    assert.deepEqual(partitionGraph(transformer).segments, [
      { id: 'engine 0', kind: 'engine', nodes: transformer.nodes.length }
    ]);
  });

  test('a node, an input and an output of one name keep distinct ids', () => {
    const graph: Graph = {
      ...graphWithFallbackInTheMiddle(),
      outputs: [
        { name: 'x', dtype: 'float32' },
        { name: 'relu', dtype: 'float32' }
      ],
      nodes: [op('relu', 'Relu', ['x'], 'relu')]
    };
    const { nodes, edges } = partitionGraph(graph);
    assert.deepEqual(
      nodes.map(n => `${n.role} ${n.id}`),
      ['input x', 'op relu', 'output x (output)', 'output relu (output)']
    );
    assert.deepEqual(edges, [
      { from: 'x', to: 'relu', tensor: 'x' },
      { from: 'x', to: 'x (output)', tensor: 'x' },
      { from: 'relu', to: 'relu (output)', tensor: 'relu' }
    ]);
  });

  test('with the layers of a built small_cnn, each node names the layer it was fused into', async () => {
    const graph = load(`${GENERATED_MODELS}/small_cnn.onnx`);
    const engine = await build(
      graph,
      { ...UNTUNED, precision: 'fp32', shapes: { input: [1, 3, 32, 32] } },
      await testDevice()
    );
    try {
      const { nodes, segments } = partitionGraph(graph, engine.layers);
      assert.deepEqual(segments, [{ id: 'engine 0', kind: 'engine', nodes: graph.nodes.length }]);
      const layerOf = new Map(nodes.map(n => [n.id, n.layer]));
      for (const layer of engine.layers) {
        for (const fused of layer.fusedNodes) {
          assert.equal(layerOf.get(fused), layer.name, `${fused} is computed by ${layer.name}`);
        }
      }
      // Conv, Add and Relu of the residual block are one layer; Relu after a Conv joins it.
      assert.equal(layerOf.get('/Add_0'), layerOf.get('/Conv_2'));
      assert.equal(layerOf.get('/Relu_2'), layerOf.get('/Conv_2'));
      assert.equal(layerOf.get('/Relu_0'), '/Conv_0');
      // A BatchNormalization folded into its convolution is computed by that layer.
      const normalizations = graph.nodes.filter(n => n.opType === 'BatchNormalization');
      assert.ok(normalizations.length > 0);
      for (const bn of normalizations) {
        const conv = graph.nodes.find(n => n.outputs[0] === bn.inputs[0])!;
        assert.equal(
          layerOf.get(bn.name),
          layerOf.get(conv.name),
          `${bn.name} is in its Conv's layer`
        );
      }
      const fusedAway = engine.layers.reduce((sum, layer) => sum + layer.fusedNodes.length, 0);
      const tagged = nodes.filter(n => n.layer !== undefined);
      assert.equal(tagged.length, fusedAway);

      // The engine's own graph (a loaded plan's): its nodes are its layers.
      const own = partitionGraph(engine.graph, engine.layers);
      const ops = own.nodes.filter(n => n.role === 'op');
      assert.deepEqual(
        ops.map(n => [n.id, n.layer]),
        engine.layers.map(layer => [layer.name, layer.name])
      );
    } finally {
      engine.destroy();
    }
  });
});
