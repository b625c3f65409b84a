import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { TimingCache } from '../../src/engine/builder/tuner';
import { Graph } from '../../src/engine/ir/graph';
import { Engine } from '../../src/engine/runtime/engine';
import { encodePlan, decodePlan } from '../../src/engine/runtime/plan';
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
