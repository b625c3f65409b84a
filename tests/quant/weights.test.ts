import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../../src/engine/ir/tensor';
import { quantizeWeightsPerChannel } from '../../src/engine/quant/weights';
import { randomTensor } from '../helpers/random';

test('per-channel weights: each channel scaled by its own max-abs, within half a step of the original', () => {
  // Output channels of very different magnitudes, as trained convolutions have.
  const weight = randomTensor([4, 3, 3, 3], { seed: 4 });
  const data = weight.data as Float32Array;
  data.forEach((_, i) => (data[i] *= [1, 0.01, 10, 0.5][Math.floor(i / 27)]));
  const { values, scales, axis } = quantizeWeightsPerChannel(weight, 0);
  assert.equal(axis, 0);
  assert.equal(values.dtype, 'int8');
  const q = values.toNumbers();
  for (let channel = 0; channel < 4; channel++) {
    const slice = Array.from(data.subarray(channel * 27, (channel + 1) * 27));
    const amax = Math.max(...slice.map(Math.abs));
    assert.ok(Math.abs(scales[channel] - amax / 127) <= 1e-7 * amax, `channel ${channel}`);
    assert.equal(Math.max(...q.subarray(channel * 27, (channel + 1) * 27).map(Math.abs)), 127);
    slice.forEach((value, i) => {
      const restored = q[channel * 27 + i] * scales[channel];
      assert.ok(Math.abs(restored - value) <= scales[channel] / 2 + 1e-9, `${value} → ${restored}`);
    });
  }
});

test('per-channel along the last axis (a MatMul weight), a zero channel, and a bad axis', () => {
  const weight = Tensor.fromNumbers('float32', [2, 3], [1, 0, -4, -2, 0, 2]);
  const { values, scales, axis } = quantizeWeightsPerChannel(weight, -1);
  assert.equal(axis, 1);
  assert.deepEqual(Array.from(scales), [2 / 127, 1, 4 / 127].map(Math.fround));
  assert.deepEqual(Array.from(values.toNumbers()), [64, 0, -127, -127, 0, 64]);
  assert.throws(() => quantizeWeightsPerChannel(weight, 2), /axis 2 is outside a weight of rank 2/);
});
