import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Graph } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { benchmark, BenchProgress } from '../../src/engine/reports/bench';
import { reportText } from '../../src/engine/reports/text';
import { Engine } from '../../src/engine/runtime/engine';
import { testDevice } from '../helpers/gpu';
import { buildGraph, node } from '../builder/passes/graphs';

/** y = relu(x) * w, with x of shape [batch, 4] (or the given dims). */
function tinyGraph(dims: (number | string)[] = ['batch', 4]): Graph {
  return buildGraph({
    inputs: { x: dims },
    outputs: ['y'],
    nodes: [node('Relu', ['x'], 'r'), node('Mul', ['r', 'w'], 'y')],
    initializers: { w: Tensor.fromNumbers('float32', [4], [0.5, -1, 2, 3]) }
  });
}

describe('benchmark', () => {
  test('native and fp32 at batches 1 and 2; fp16 without shader-f16 is skipped, saying why', async () => {
    const device = await testDevice();
    const updates: BenchProgress[] = [];
    let destroyed = 0;
    const destroy = Engine.prototype.destroy;
    Engine.prototype.destroy = function (this: Engine) {
      destroyed++;
      destroy.call(this);
    };
    let report;
    try {
      report = await benchmark(tinyGraph(), {
        device,
        modes: ['native', 'fp32', 'fp16'],
        batches: [1, 2],
        iterations: 3,
        warmup: 1,
        optimizationLevel: 0,
        source: 'tiny.onnx',
        onProgress: update => updates.push(update)
      });
    } finally {
      Engine.prototype.destroy = destroy;
    }
    const halfModes = device.features.has('shader-f16') ? ['fp16'] : [];
    assert.deepEqual(
      report.rows.map(row => `${row.mode} ${row.batch}`),
      [1, 2].flatMap(batch => ['native', 'fp32', ...halfModes].map(mode => `${mode} ${batch}`))
    );
    if (halfModes.length === 0) {
      assert.deepEqual(report.skipped, [
        { mode: 'fp16', reason: "the device has no 'shader-f16': FP16 would run in FP32" }
      ]);
    }
    assert.equal(destroyed, 2 * (1 + halfModes.length), 'each engine destroyed after its row');
    for (const row of report.rows) {
      assert.equal(row.latency.count, 3);
      assert.equal(row.throughput, row.batch / (row.latency.median / 1000));
      assert.ok(row.firstRunMs > 0);
      assert.equal(row.buildMs === undefined, row.mode === 'native', `${row.mode}: build time`);
    }
    assert.equal(report.source, 'tiny.onnx');
    assert.equal(report.iterations, 3);

    // 1 first run + 1 warm-up + 3 timed runs per row.
    const total = report.rows.length * 5;
    assert.ok(updates.every(update => update.total === total));
    assert.ok(updates.every((update, i) => i === 0 || update.done >= updates[i - 1].done));
    assert.equal(updates.at(-1)?.done, total);
    assert.ok(
      updates.some(update => /^fp32, batch 2: building, layer \d+ of \d+$/.test(update.step))
    );
    assert.ok(updates.some(update => update.step === 'native, batch 1: run 3 of 3'));

    const text = reportText(report);
    assert.match(text, /^bench +tiny\.onnx, 3 timed runs per mode and batch$/m);
    assert.match(text, /^ {2}mode +batch +build +first run +median +p90 +throughput +vs native$/m);
    assert.match(
      text,
      /^ {2}native +2 +- +[\d.]+ m?s +[\d.]+ m?s +[\d.]+ m?s +[\d.e+]+\/s +1\.00x$/m
    );
    assert.match(text, /^ {2}fp32 +1 +[\d.]+ m?s( +[\d.]+ m?s){3} +[\d.e+]+\/s +[\d.]+x$/m);
    if (halfModes.length === 0) {
      assert.match(text, /^skipped\n {2}fp16 {2}the device has no 'shader-f16'/m);
    }
  });

  test('a batch the model fixes to another size is skipped for every mode', async () => {
    const report = await benchmark(tinyGraph([1, 4]), {
      device: await testDevice(),
      modes: ['native', 'fp32'],
      batches: [1, 2],
      iterations: 1,
      warmup: 0,
      optimizationLevel: 0
    });
    assert.deepEqual(
      report.rows.map(row => `${row.mode} ${row.batch}`),
      ['native 1', 'fp32 1']
    );
    assert.deepEqual(report.skipped, [
      { mode: 'native', batch: 2, reason: "input 'x' has a fixed batch of 1" },
      { mode: 'fp32', batch: 2, reason: "input 'x' has a fixed batch of 1" }
    ]);
    assert.match(reportText(report), /^ {2}native {2}batch 2: input 'x' has a fixed batch of 1$/m);
  });

  test("'int8' needs INT8 scales: without them it is skipped, saying why", async () => {
    const options = {
      device: await testDevice(),
      modes: ['fp32', 'int8'] as const,
      batches: [1],
      iterations: 1,
      warmup: 0,
      optimizationLevel: 0
    };
    const unscaled = await benchmark(tinyGraph(), options);
    assert.deepEqual(
      unscaled.rows.map(row => row.mode),
      ['fp32']
    );
    assert.deepEqual(unscaled.skipped, [
      {
        mode: 'int8',
        reason: 'no INT8 scales: calibrate the model and give its calibration cache (int8Scales)'
      }
    ]);
    const scaled = await benchmark(tinyGraph(), { ...options, int8Scales: { x: 0.01, r: 0.01 } });
    assert.deepEqual(
      scaled.rows.map(row => row.mode),
      ['fp32', 'int8']
    );
    assert.deepEqual(scaled.skipped, []);
  });

  test('stops between runs when its signal is aborted, and rejects with the reason', async () => {
    const controller = new AbortController();
    const reason = new Error('interrupted');
    await assert.rejects(
      benchmark(tinyGraph(), {
        device: await testDevice(),
        modes: ['native', 'fp32'],
        batches: [1],
        iterations: 100,
        warmup: 0,
        signal: controller.signal,
        onProgress: ({ done }) => done >= 2 && controller.abort(reason)
      }),
      error => error === reason
    );
  });

  test('bad options and unset dims are errors naming them', async () => {
    const device = await testDevice();
    const options = { device, modes: ['native' as const], batches: [1], iterations: 1 };
    await assert.rejects(
      benchmark(tinyGraph(), { ...options, iterations: 0 }),
      /iterations must be a positive integer, got 0/
    );
    await assert.rejects(
      benchmark(tinyGraph(), { ...options, batches: [0] }),
      /batches must be positive integers/
    );
    await assert.rejects(benchmark(tinyGraph(), { ...options, modes: [] }), /no modes given/);
    await assert.rejects(
      benchmark(tinyGraph(), { ...options, batches: [1, 8, 1] }),
      /batch 1 is given twice/
    );
    await assert.rejects(
      benchmark(tinyGraph(['batch', 'features']), options),
      /input 'x' dim 1 is symbolic \('features'\): give the input's shape in shapes/
    );
    const given = await benchmark(tinyGraph(['batch', 'features']), {
      ...options,
      shapes: { x: [7, 4] },
      warmup: 0
    });
    assert.deepEqual(
      given.rows.map(row => row.batch),
      [1]
    );
  });
});
