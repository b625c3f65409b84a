import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fastestTactic, TimingCache, timeTactics } from '../../src/engine/builder/tuner';
import { bindDispatch, PipelineCache } from '../../src/engine/runtime/native';
import { createStorageBuffer } from '../../src/engine/runtime/transfer';
import { testDevice } from '../helpers/gpu';

/** A dispatch that fills `count` floats, spread over workgroups of `width` invocations. */
function fill(device: GPUDevice, pipelines: PipelineCache, buffer: GPUBuffer, width: number) {
  const count = 4096;
  const code = `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${width})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < ${count}u) { out[id.x] = f32(id.x) * 0.5; }
}`;
  const tensor = { dtype: 'float32' as const, shape: [count], size: count, buffer };
  return bindDispatch(device, pipelines, {
    label: `fill ${width}`,
    code,
    bindings: [tensor],
    workgroups: [Math.ceil(count / width)]
  });
}

describe('tactic timing', () => {
  test('times every candidate once, then answers from the timing cache', async () => {
    const device = await testDevice();
    const pipelines = new PipelineCache(device);
    const buffer = createStorageBuffer(device, 4096, 'tuner test');
    const candidates = [64, 256].map(width => ({
      tactic: `wg${width}`,
      dispatches: [fill(device, pipelines, buffer, width)]
    }));
    const cache = new TimingCache();
    const first = await timeTactics(device, 'Fill [4096]', candidates, cache, {
      repeats: 2,
      rounds: 2
    });
    assert.deepEqual(
      first.map(t => [t.tactic, t.cached]),
      [
        ['wg64', false],
        ['wg256', false]
      ]
    );
    first.forEach(t => assert.ok(Number.isFinite(t.ms) && t.ms > 0, `${t.tactic}: ${t.ms} ms`));
    assert.equal(cache.size, 2);

    const again = await timeTactics(device, 'Fill [4096]', candidates, cache);
    assert.deepEqual(
      again.map(t => [t.tactic, t.ms, t.cached]),
      first.map(t => [t.tactic, t.ms, true])
    );
    const restored = new TimingCache(cache.entries());
    assert.equal(restored.get('Fill [4096]', 'wg64'), first[0].ms);
    assert.equal(restored.get('Fill [8192]', 'wg64'), undefined);
    buffer.destroy();
  });

  test('the fastest tactic wins, the first listed on a tie', () => {
    const timing = (tactic: string, ms: number) => ({ tactic, ms, cached: false });
    assert.equal(fastestTactic([timing('a', 2), timing('b', 1), timing('c', 3)]).tactic, 'b');
    assert.equal(fastestTactic([timing('a', 1), timing('b', 1)]).tactic, 'a');
    assert.throws(() => fastestTactic([]), /no tactics/);
  });
});
