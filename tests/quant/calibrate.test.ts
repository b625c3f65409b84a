import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { importOnnx } from '../../src/engine/onnx/index';
import { calibrate, CalibrationProgress } from '../../src/engine/quant/calibrate';
import { runReference } from '../../src/engine/runtime/reference';
import { testDevice } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';
import { GENERATED_MODELS } from '../models/oracle';

const graph = importOnnx(new Uint8Array(readFileSync(`${GENERATED_MODELS}/small_cnn.onnx`)));
const batches = [1, 2, 3].map(seed => ({
  input: randomTensor([2, 3, 32, 32], { low: -1, high: 1, seed })
}));

describe('calibrate', () => {
  test('minmax: every float tensor of small_cnn gets the largest |x| the model computes over the batches', async () => {
    const progress: CalibrationProgress[] = [];
    const result = await calibrate(graph, batches, await testDevice(), {
      calibrator: { kind: 'minmax' },
      totalBatches: batches.length,
      onProgress: p => progress.push(p)
    });
    assert.equal(result.batches, 3);
    assert.deepEqual(
      progress.map(p => `${p.batchesDone}/${p.totalBatches}`),
      ['1/3', '2/3', '3/3']
    );
    const expected = new Map<string, number>();
    for (const feeds of batches) {
      const values = runReference(graph, feeds, { keepIntermediates: true });
      for (const [name, tensor] of Object.entries(values)) {
        if (tensor.dtype === 'float32' && !graph.initializers.has(name)) {
          const largest = tensor.toNumbers().reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          expected.set(name, Math.max(expected.get(name) ?? 0, largest));
        }
      }
    }
    assert.deepEqual([...result.amax.keys()].sort(), [...expected.keys()].sort());
    for (const [name, amax] of result.amax) {
      const want = expected.get(name)!;
      assert.ok(Math.abs(amax - want) <= 1e-5 * want, `${name}: ${amax} against ${want}`);
    }
    assert.ok(result.amax.get('input')! > 0.9, 'the graph input is calibrated too');
  });

  test('entropy covers no more than minmax, but for its threshold of i + 0.5 bins; errors and aborts', async () => {
    const device = await testDevice();
    const [entropy, minmax] = await Promise.all(
      (['entropy', 'minmax'] as const).map(kind =>
        calibrate(graph, batches, device, { calibrator: { kind } })
      )
    );
    for (const [name, amax] of entropy.amax) {
      const { binWidth } = entropy.histograms.get(name)!;
      assert.ok(amax <= minmax.amax.get(name)! + 1.5 * binWidth, `${name}: ${amax}`);
      assert.ok(amax > 0, name);
    }
    await assert.rejects(
      calibrate(graph, [], device, { calibrator: { kind: 'minmax' } }),
      /calibration needs at least one batch of data/
    );
    const controller = new AbortController();
    const reason = new Error('stopped');
    await assert.rejects(
      calibrate(graph, batches, device, {
        calibrator: { kind: 'minmax' },
        signal: controller.signal,
        onProgress: () => controller.abort(reason)
      }),
      error => error === reason
    );
  });
});
