/**
 * ExecutionContext.executeTimed: the same outputs as execute, and each phase (H2D, GPU
 * compute, D2H) timed; ExecutionContext.timeCompute: one time per back-to-back compute pass.
 * Both by GPU timestamps where the device has them and on the wall clock where it does not.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { Tensor } from '../../src/engine/ir/tensor';
import { PhaseTimes } from '../../src/engine/runtime/engine';
import { buildGraph, int64, node } from '../builder/passes/graphs';
import { UNTUNED, deviceWithoutTimestamps, testDevice } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';

/** Two kernels around a view, so that compute takes some time and outputs lie on the GPU. */
function smallGraph() {
  return buildGraph({
    inputs: { x: [4, 64] },
    outputs: ['z'],
    nodes: [
      node('Relu', ['x'], 'y'),
      node('Reshape', ['y', 'shape'], 'r'),
      node('Sigmoid', ['r'], 'z')
    ],
    initializers: { shape: int64([16, 16], [2]) }
  });
}

function assertSameOutputs(actual: Record<string, Tensor>, expected: Record<string, Tensor>) {
  assert.deepEqual(Object.keys(actual), Object.keys(expected));
  for (const [name, tensor] of Object.entries(expected)) {
    assert.deepEqual(actual[name].shape, tensor.shape, name);
    assert.deepEqual(actual[name].data, tensor.data, `${name}: not the same values`);
  }
}

function assertTimed(times: PhaseTimes): void {
  for (const [phase, ms] of Object.entries(times)) {
    assert.ok(Number.isFinite(ms) && ms >= 0, `${phase}: ${ms} ms`);
  }
  // Waiting for the queue and mapping a buffer take some host time on any device.
  assert.ok(times.h2dMs > 0 && times.d2hMs > 0, JSON.stringify(times));
}

async function checkTimedExecution(device: GPUDevice, clock: 'gpu' | 'wall-clock') {
  const engine = await build(smallGraph(), { ...UNTUNED, precision: 'fp32' }, device);
  try {
    const context = engine.createContext();
    const feeds = { x: randomTensor([4, 64], { seed: 5 }) };
    const expected = await context.execute(feeds);
    for (let run = 0; run < 3; run++) {
      const timed = await context.executeTimed(feeds);
      assert.equal(timed.computeClock, clock);
      assertTimed(timed.times);
      if (clock === 'wall-clock') {
        assert.ok(timed.times.computeMs > 0, 'a submission takes some wall-clock time');
      }
      assertSameOutputs(timed.outputs, expected);
    }
    assertSameOutputs(await context.execute(feeds), expected);

    // More passes than one query set holds take two submissions.
    for (const [count, warmUpMs] of [
      [1, 0],
      [7, 50],
      [2050, 0]
    ]) {
      const started = performance.now();
      const { clock: computeClock, timesMs } = await context.timeCompute(feeds, count, warmUpMs);
      assert.ok(performance.now() - started >= warmUpMs, 'warmed up for the time asked');
      assert.equal(computeClock, clock);
      assert.equal(timesMs.length, count);
      assert.ok(
        timesMs.every(ms => Number.isFinite(ms) && (clock === 'gpu' ? ms >= 0 : ms > 0)),
        `${count} passes: ${timesMs.slice(0, 8).join(', ')} ...`
      );
    }
    assertSameOutputs(await context.execute(feeds), expected);
    for (const count of [0, 2.5]) {
      await assert.rejects(
        context.timeCompute(feeds, count),
        new RegExp(`timeCompute: count must be a positive integer, got ${count}`)
      );
    }

    const running = context.executeTimed(feeds);
    await assert.rejects(context.execute(feeds), /still running/);
    await running;
    await assert.rejects(
      context.executeTimed({ x: randomTensor([2, 64]) }),
      /input 'x' must have shape \[4, 64\]/
    );
  } finally {
    engine.destroy();
  }
}

describe('ExecutionContext.executeTimed and timeCompute', () => {
  test('GPU compute from timestamps where the device has timestamp-query', async () => {
    const device = await testDevice();
    assert.ok(device.features.has('timestamp-query'), 'the test device offers timestamp-query');
    await checkTimedExecution(device, 'gpu');
  });

  test('GPU compute on the wall clock without timestamp-query', async () => {
    const device = await deviceWithoutTimestamps();
    try {
      await checkTimedExecution(device, 'wall-clock');
    } finally {
      device.destroy();
    }
  });
});
