/**
 * `webtrt calibrate`, run as a user runs it, on small_cnn over a directory of .npy batches:
 * the report, and a calibration cache in TensorRT's format whose scales match a calibration
 * made here through the engine's API.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { encodeNpy } from '../../src/engine/io/npy';
import { importOnnx } from '../../src/engine/onnx/index';
import { readCalibrationCache } from '../../src/engine/quant/cache';
import { calibrate } from '../../src/engine/quant/calibrate';
import { failsWith, succeeds } from '../helpers/cli';
import { testDevice } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';
import { temporaryDirectory } from '../helpers/temporary';

const MODEL = 'examples/models/small_cnn.onnx';
const batches = [1, 2].map(seed => ({
  input: randomTensor([2, 3, 32, 32], { low: -1, high: 1, seed })
}));
const path = temporaryDirectory('webtrt-calibrate-');

before(() => {
  mkdirSync(path('data'));
  batches.forEach(({ input }, i) => writeFileSync(path(`data/batch${i}.npy`), encodeNpy(input)));
  mkdirSync(path('empty'));
});

describe('webtrt calibrate', () => {
  test('writes a TensorRT calibration cache whose scales are amax / 127 of the calibration', async () => {
    const stdout = succeeds([
      'calibrate',
      MODEL,
      '--data',
      path('data'),
      '--calibrator',
      'minmax',
      '-o',
      path('cnn.calib')
    ]);
    assert.match(stdout, /^calibrator minmax over 2 batches$/m);
    assert.match(stdout, /^cache +.*cnn\.calib: /m);
    const cache = readCalibrationCache(readFileSync(path('cnn.calib'), 'utf8'));
    assert.equal(cache.calibrator, 'minmax');
    const graph = importOnnx(new Uint8Array(readFileSync(MODEL)));
    const expected = await calibrate(graph, batches, await testDevice(), {
      calibrator: { kind: 'minmax' }
    });
    assert.deepEqual([...cache.scales.keys()], [...expected.amax.keys()]);
    for (const [name, amax] of expected.amax) {
      // The cache holds float32 scales.
      assert.equal(cache.scales.get(name), Math.fround(amax / 127), name);
    }
  });

  test('percentile caches carry the entropy header; bad data and flags are one clear error', () => {
    succeeds([
      'calibrate',
      MODEL,
      '--data',
      path('data'),
      '--calibrator',
      'percentile',
      '--percentile',
      '99.9',
      '-o',
      path('p.calib')
    ]);
    assert.match(readFileSync(path('p.calib'), 'utf8'), /^TRT-\d+-EntropyCalibration2\n/);
    failsWith(['calibrate', MODEL, '-o', path('x.calib')], 2, /missing --data <dir>/);
    failsWith(
      ['calibrate', MODEL, '--data', path('empty'), '-o', path('x.calib')],
      2,
      /holds no \.npy file: each \.npy file is one batch of input 'input'/
    );
    failsWith(
      ['calibrate', MODEL, '--data', path('data'), '--percentile', '99', '-o', path('x.calib')],
      2,
      /--percentile goes with --calibrator percentile/
    );
    failsWith(
      ['calibrate', MODEL, '--data', path('data'), '--calibrator', 'kl', '-o', path('x.calib')],
      2,
      /--calibrator must be one of entropy, minmax, percentile, got 'kl'/
    );
  });
});
