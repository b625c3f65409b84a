import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { TimingCache } from '../../src/engine/builder/tuner';
import { Graph } from '../../src/engine/ir/graph';
import { Engine } from '../../src/engine/runtime/engine';
import { encodePlan, decodePlan } from '../../src/engine/runtime/plan';
import { runReference } from '../../src/engine/runtime/reference';
import { buildGraph, node } from '../builder/passes/graphs';
import { errorStats } from '../helpers/compare';
import { testDevice } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';

/** One attention layer, whose kernel offers several tactics (query block sizes). */
function attentionGraph(): Graph {
  const shape = [1, 6, 8];
  return {
    name: 'attention',
    opsets: { '': 17, webtrt: 1 },
    inputs: ['q', 'k', 'v'].map(name => ({ name, dtype: 'float32' as const, shape })),
    outputs: [{ name: 'y', dtype: 'float32' }],
    nodes: [
      {
        name: 'attention',
        opType: 'Attention',
        domain: 'webtrt',
        inputs: ['q', 'k', 'v'],
        outputs: ['y'],
        attributes: { num_heads: 2 }
      }
    ],
    initializers: new Map(),
    valueTypes: new Map()
  };
}

const feeds = {
  q: randomTensor([1, 6, 8], { seed: 1 }),
  k: randomTensor([1, 6, 8], { seed: 2 }),
  v: randomTensor([1, 6, 8], { seed: 3 })
};

describe('kernel auto-tuning', () => {
  test('times every tactic of a layer, keeps the fastest, and shares timings through the cache', async () => {
    const device = await testDevice();
    const cache = new TimingCache();
    const engine = await build(
      attentionGraph(),
      { precision: 'fp32', optimizationLevel: 1 },
      device,
      { timingCache: cache }
    );
    const [layer] = engine.layers;
    assert.ok(layer.tacticTimings && layer.tacticTimings.length >= 2, 'several tactics timed');
    const fastest = Math.min(...layer.tacticTimings.map(t => t.ms));
    assert.equal(layer.tacticTimings.find(t => t.tactic === layer.tactic)?.ms, fastest);
    assert.equal(cache.size, layer.tacticTimings.length);

    const again = await build(
      attentionGraph(),
      { precision: 'fp32', optimizationLevel: 1 },
      device,
      { timingCache: cache }
    );
    assert.ok(again.layers[0].tacticTimings!.every(t => t.cached));
    assert.equal(again.layers[0].tactic, layer.tactic);
    const [expected, actual] = await Promise.all(
      [engine, again].map(e => e.createContext().execute(feeds))
    );
    assert.deepEqual(actual.y.data, expected.y.data);
    engine.destroy();
    again.destroy();
  });

  test('INT8 layers that differ only in their input scale share timings: the second compiles only its fastest tactic', async () => {
    const weights = (seed: number) =>
      randomTensor([64, 64], { dtype: 'int8', low: -128, high: 128, seed });
    const scales = (seed: number) => randomTensor([64], { low: 0.001, high: 0.02, seed });
    const graph = buildGraph({
      inputs: { x: [32, 64] },
      outputs: ['z'],
      nodes: [
        { ...node('Int8MatMul', ['x', 'b1', 's1'], 'y', { a_scale: 0.01 }), domain: 'webtrt' },
        { ...node('Int8MatMul', ['y', 'b2', 's2'], 'z', { a_scale: 0.3 }), domain: 'webtrt' }
      ],
      initializers: { b1: weights(1), s1: scales(2), b2: weights(3), s2: scales(4) },
      opset: 17
    });
    graph.opsets.webtrt = 1;
    const engine = await build(
      graph,
      { precision: 'fp32', optimizationLevel: 1 },
      await testDevice()
    );
    const [first, second] = engine.layers;
    assert.ok((first.tacticTimings?.length ?? 0) >= 2, 'several tactics timed');
    assert.ok(
      first.tacticTimings!.every(t => !t.cached),
      'the first layer is timed'
    );
    assert.deepEqual(
      second.tacticTimings,
      first.tacticTimings!.map(t => ({ ...t, cached: true })),
      "the second layer takes the first's timings"
    );
    assert.equal(second.tactic, first.tactic);

    const x = { x: randomTensor([32, 64], { seed: 5 }) };
    const { z } = await engine.createContext().execute(x);
    assert.ok(
      errorStats(z, runReference(graph, x).z).maxRel < 1e-4,
      'the second layer computes with its own scale'
    );
    engine.destroy();
  });

  test('level 0 takes the default tactic untimed; a plan keeps its tactics, and refuses one its kernel lacks', async () => {
    const device = await testDevice();
    const engine = await build(
      attentionGraph(),
      { precision: 'fp32', optimizationLevel: 0 },
      device
    );
    const [layer] = engine.layers;
    assert.ok(layer.tactic, 'the default tactic is named');
    assert.equal(layer.tacticTimings, undefined);

    const plan = engine.serialize();
    const loaded = await Engine.deserialize(plan, device);
    assert.equal(loaded.layers[0].tactic, layer.tactic);
    loaded.destroy();

    const decoded = decodePlan(plan);
    const metadata = decoded.metadata as { layers: { tactic?: string }[] };
    metadata.layers[0].tactic = 'rows999x1';
    await assert.rejects(
      Engine.deserialize(encodePlan(decoded), device),
      /tactic 'rows999x1', which its kernel no longer offers .*rebuild the engine/
    );
    engine.destroy();
  });
});
