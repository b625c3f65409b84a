import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { clusterNodes, segmentGraph } from '../../src/engine/builder/segment';
import { unsupportedNodes } from '../../src/engine/builder/support';
import { Graph, Node } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { seededRandom } from '../../src/engine/io/random';
import { importOnnx } from '../../src/engine/onnx/index';
import { inferShapes } from '../../src/engine/ops/infer';
import { registerOp } from '../../src/engine/ops/registry';
import { UnsupportedOpError } from '../../src/engine/ops/types';
import { GENERATED_MODELS } from '../models/oracle';

function load(name: string): Graph {
  const file = `${GENERATED_MODELS}/${name}`;
  return importOnnx(new Uint8Array(readFileSync(file)), { source: file });
}

function op(name: string, opType: string, inputs: string[], output: string, domain = ''): Node {
  return { name, opType, domain, inputs, outputs: [output], attributes: {} };
}

/** A graph of `nodes` over float32 x [2, 4] (and int64 `shape` [2]), types inferred. */
function typed(nodes: Node[], outputs: string[], initializers: [string, Tensor][] = []): Graph {
  const graph: Graph = {
    name: 'test',
    opsets: { '': 17, 'com.example': 1 },
    inputs: [
      { name: 'x', dtype: 'float32', shape: [2, 4] },
      { name: 'shape', dtype: 'int64', shape: [2] }
    ],
    outputs: outputs.map(name => ({ name, dtype: 'float32' })),
    nodes,
    initializers: new Map(initializers),
    valueTypes: new Map()
  };
  try {
    inferShapes(graph);
  } catch (error) {
    // As the importer does: inference stops at an op webtrt does not know.
    assert.ok(error instanceof UnsupportedOpError, String(error));
  }
  return graph;
}

function reasons(graph: Graph, denyOps: string[] = []): Record<string, string> {
  return Object.fromEntries(
    [...unsupportedNodes(graph, { denyOps })].map(([node, { reason }]) => [node.name, reason])
  );
}

describe('unsupportedNodes', () => {
  test('names why each node falls back: no kernel, dtype, a host input known only at run time, denyOps', () => {
    const graph = typed(
      [
        op('relu', 'Relu', ['x'], 'a'),
        op('mod', 'Mod', ['a', 'x'], 'b'),
        { ...op('cast', 'Cast', ['b'], 'i'), attributes: { to: 6 } },
        op('abs_ints', 'Abs', ['i'], 'j'),
        op('reshape', 'Reshape', ['b', 'shape'], 'r'),
        op('sigmoid', 'Sigmoid', ['r'], 'y')
      ],
      ['y', 'j']
    );
    assert.deepEqual(reasons(graph, ['Sigmoid']), {
      mod: 'Mod has no WebGPU kernel',
      abs_ints: 'Abs: int32 inputs run on the CPU',
      reshape:
        'Reshape needs input 1 on the host when the engine is built, and it is only known at run time',
      sigmoid: 'Sigmoid is in denyOps'
    });
  });

  test('an op webtrt does not know, and an output whose size the data decides', () => {
    const unregister = registerOp({
      opType: 'KeepPositive',
      domain: 'com.example',
      parseAttributes: () => ({}),
      inferTypes: ([x]) => [{ dtype: x!.dtype, shape: [null] }],
      cpu: ([x]) => {
        const kept = Array.from(x!.toNumbers()).filter(v => v > 0);
        return [Tensor.fromNumbers(x!.dtype, [kept.length], kept)];
      },
      webgpu: {
        run: () => {
          throw new Error('the support check never runs a kernel');
        }
      }
    });
    try {
      const graph = typed(
        [
          op('keep', 'KeepPositive', ['x'], 'k', 'com.example'),
          op('relu', 'Relu', ['k'], 'y'),
          op('unknown', 'Unknown', ['x'], 'u', 'com.example')
        ],
        ['y']
      );
      assert.deepEqual(reasons(graph), {
        keep: "com.example::KeepPositive: the shape of output 'k' depends on the data",
        unknown: 'com.example::Unknown is not supported'
      });
    } finally {
      unregister();
    }
  });

  test('Shape of an input and what folds from it need no kernel, unless denied', () => {
    const graph = typed(
      [
        op('shape_of_x', 'Shape', ['x'], 's'),
        op('mod_of_shape', 'Mod', ['s', 'two'], 'm'),
        op('reshape', 'Reshape', ['x', 'm'], 'y')
      ],
      ['y'],
      [['two', Tensor.fromNumbers('int64', [1], [5])]]
    );
    assert.deepEqual(reasons(graph), {});
    assert.deepEqual(reasons(graph, ['Shape']), {
      shape_of_x: 'Shape is in denyOps',
      mod_of_shape: 'Mod has no WebGPU kernel',
      reshape:
        'Reshape needs input 1 on the host when the engine is built, and it is only known at run time'
    });
    assert.deepEqual([...segmentGraph(graph).buildTimeValues].sort(), ['m', 's', 'two']);
  });
});

/**
 * A random DAG: each node reads one to three earlier values (or the input); its kind is
 * random, so engine and fallback nodes interleave in every way.
 */
function randomDag(seed: number, size: number): { graph: Graph; kinds: Map<Node, string> } {
  const random = seededRandom(seed);
  const nodes: Node[] = [];
  const kinds = new Map<Node, string>();
  for (let i = 0; i < size; i++) {
    const reads = new Set<string>();
    const count = 1 + Math.floor(random() * 3);
    for (let k = 0; k < count; k++) {
      const from = Math.floor(random() * (i + 1)) - 1;
      reads.add(from < 0 ? 'x' : `v${from}`);
    }
    const node = op(`n${i}`, 'Sum', [...reads], `v${i}`);
    nodes.push(node);
    kinds.set(node, random() < 0.6 ? 'engine' : 'fallback');
  }
  const graph: Graph = {
    name: `dag ${seed}`,
    opsets: { '': 17 },
    inputs: [{ name: 'x', dtype: 'float32', shape: [1] }],
    outputs: [{ name: `v${size - 1}`, dtype: 'float32' }],
    nodes,
    initializers: new Map(),
    valueTypes: new Map()
  };
  return { graph, kinds };
}

describe('clusterNodes', () => {
  test('an engine segment and a fallback between two of its nodes stay apart (no cycle)', () => {
    // a → b (fallback) → c, and a → c: a and c in one segment would both feed b and read it.
    const a = op('a', 'Relu', ['x'], 'va');
    const b = op('b', 'Mod', ['va', 'x'], 'vb');
    const c = op('c', 'Add', ['va', 'vb'], 'vc');
    const d = op('d', 'Relu', ['vc'], 'vd');
    const graph = { ...randomDag(1, 1).graph, nodes: [a, b, c, d] };
    const groups = clusterNodes(graph, node => (node === b ? 'fallback' : 'engine'));
    assert.deepEqual(
      groups.map(group => group.map(node => node.name)),
      [['a'], ['b'], ['c', 'd']]
    );
  });

  test('on random graphs: no merge makes a cycle, each group is of one kind, every node in one group', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const { graph, kinds } = randomDag(seed, 10 + (seed % 30));
      const groups = clusterNodes(graph, node => kinds.get(node)!);
      const groupOf = new Map<string, number>();
      groups.forEach((group, g) => group.forEach(node => groupOf.set(node.outputs[0], g)));
      assert.equal(groupOf.size, graph.nodes.length, `seed ${seed}: every node once`);
      groups.forEach((group, g) => {
        assert.equal(new Set(group.map(node => kinds.get(node))).size, 1, `seed ${seed}`);
        for (const node of group) {
          for (const input of node.inputs) {
            const from = groupOf.get(input);
            // Groups run in order, each reading only earlier ones: no cycle between them.
            assert.ok(from === undefined || from <= g, `seed ${seed}: ${node.name} reads ${input}`);
          }
        }
      });
      // Merging along edges happened: no two same-kind groups joined by an edge could merge.
      assert.ok(groups.length < graph.nodes.length, `seed ${seed}: some nodes merged`);
    }
  });
});

describe('segmentGraph', () => {
  test('cast_in_middle with Cast denied: two engines around the fallback Casts, with their borders', () => {
    const graph = load('cast_in_middle.onnx');
    const { segments, fallbackReasons } = segmentGraph(graph, { denyOps: ['Cast'] });
    assert.deepEqual(
      segments.map(({ id, nodes, inputs, outputs }) => [id, nodes.length, inputs, outputs]),
      [
        ['engine 0', 4, ['input'], ['relu_1']],
        ['fallback 1', 2, ['relu_1'], ['cast_1']],
        ['engine 2', 5, ['cast_1'], ['logits']]
      ]
    );
    assert.equal(segments[1].reason, 'Cast is in denyOps');
    assert.deepEqual([...fallbackReasons.values()], ['Cast is in denyOps', 'Cast is in denyOps']);
    // Without the deny list the whole model is one engine.
    assert.deepEqual(
      segmentGraph(graph).segments.map(s => [s.id, s.nodes.length]),
      [['engine 0', 11]]
    );
  });

  test('every engine segment has at least minimumSegmentSize nodes; the smaller ones say why', () => {
    const graph = load('small_transformer.onnx');
    for (let minimum = 1; minimum <= 12; minimum++) {
      const { segments, fallbackReasons } = segmentGraph(graph, {
        denyOps: ['Softmax', 'Erf'],
        minimumSegmentSize: minimum
      });
      const engines = segments.filter(s => s.kind === 'engine');
      assert.ok(engines.length > 0 || minimum > 1, `minimum ${minimum}`);
      for (const segment of engines) {
        assert.ok(segment.nodes.length >= minimum, `${segment.id}: ${segment.nodes.length} nodes`);
      }
      const small = [...fallbackReasons.values()].filter(r => r.includes('minimum_segment_size'));
      for (const reason of small) {
        const [, count] = /^(\d+) nodes? < minimum_segment_size (\d+)$/.exec(reason)!.slice(0, 2);
        assert.ok(Number(count) < minimum, reason);
      }
    }
    const segmented = segmentGraph(graph, { denyOps: ['Softmax', 'Erf'], minimumSegmentSize: 1 });
    assert.ok(segmented.segments.filter(s => s.kind === 'engine').length >= 4);
  });

  test('maxAllowedEngines keeps the largest engines', () => {
    const graph = load('cast_in_middle.onnx');
    const { segments } = segmentGraph(graph, { denyOps: ['Cast'], maxAllowedEngines: 1 });
    assert.deepEqual(
      segments.map(s => [s.id, s.nodes.length, s.reason]),
      [
        ['fallback 0', 4, 'more engines than maxAllowedEngines 1'],
        ['fallback 1', 2, 'Cast is in denyOps'],
        ['engine 2', 5, undefined]
      ]
    );
    assert.throws(
      () => segmentGraph(graph, { maxAllowedEngines: -1 }),
      /maxAllowedEngines must be an integer of at least 0, got -1/
    );
  });
});
