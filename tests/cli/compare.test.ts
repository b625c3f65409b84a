/**
 * `webtrt compare`, run as a user runs it on small_cnn: an FP16 engine fails the default
 * tolerances (exit 1, naming the output) and passes looser ones; a plan is compared as
 * built; the CPU reference; INT8 from a calibration cache over --data, with the worst INT8
 * layers held to FP16 and the --layerPrecisions flag that builds that engine.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { encodeNpy } from '../../src/engine/io/npy';
import { failsWith, succeeds, webtrt } from '../helpers/cli';
import { randomTensor } from '../helpers/random';
import { temporaryDirectory } from '../helpers/temporary';

const MODEL = 'examples/models/small_cnn.onnx';
const FAST = ['--builderOptimizationLevel', '0'];
const SHAPES = ['--shapes', 'input:1x3x32x32'];
const path = temporaryDirectory('webtrt-compare-');

before(() => {
  mkdirSync(path('data'));
  mkdirSync(path('empty'));
  [1, 2].forEach(seed =>
    writeFileSync(
      path(`data/batch${seed}.npy`),
      encodeNpy(randomTensor([1, 3, 32, 32], { low: -1, high: 1, seed }))
    )
  );
});

describe('webtrt compare', () => {
  test('an FP16 engine fails the default tolerances: the report, then one line naming the output', () => {
    const result = webtrt(['compare', MODEL, '--fp16', ...SHAPES, ...FAST, '--iterations', '2']);
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stdout, /^compare +fp16 engine against fp32 engine$/m);
    assert.match(result.stdout, /^inputs +2 iterations of random uniform \[0, 1\)$/m);
    assert.match(result.stdout, /^ {2}logits +\[1, 10\] .* 20 of 20 +FAILED$/m);
    assert.match(result.stdout, /^ {4}top-1 agreement 100\.0%, top-5 100\.0% of 2 rows$/m);
    assert.match(result.stdout, /^ {2}\/Conv_\d +FusedConv +fp16 +relu_\d /m);
    const errors = result.stderr.split('\n').filter(line => line.startsWith('webtrt: error:'));
    assert.deepEqual(errors.length, 1, result.stderr);
    assert.match(
      errors[0],
      /fp16 engine differs from fp32 engine beyond atol 0\.00001, rtol 0\.00001 in 'logits' \(20 of 20 elements; max abs /
    );
  });

  test('a plan as built, within looser tolerances; the FP32 engine against the CPU reference', () => {
    succeeds(['build', MODEL, '--fp16', ...SHAPES, ...FAST, '-o', path('cnn.wtrt')]);
    const plan = succeeds(['compare', MODEL, path('cnn.wtrt'), '--atol', '0.01', '--rtol', '0.01']);
    assert.match(plan, /^compare +.*cnn\.wtrt \(fp16 engine\) against fp32 engine$/m);
    assert.match(plan, /^result +PASSED: every output within the tolerance$/m);

    const cpu = succeeds(['compare', MODEL, ...SHAPES, '--reference', 'cpu', '--outputsOnly']);
    assert.match(cpu, /^compare +fp32 engine against CPU reference ops$/m);
    assert.match(cpu, /^ {2}logits .* 0 of 10 +PASSED$/m);
    assert.doesNotMatch(cpu, /^layers/m);
  });

  test('INT8 over --data; --fallbackWorst holds the worst INT8 layers to FP16 and compares again', () => {
    succeeds(['calibrate', MODEL, '--data', path('data'), '-o', path('cnn.calib')]);
    const stdout = succeeds([
      'compare',
      MODEL,
      '--int8',
      '--calib',
      path('cnn.calib'),
      '--data',
      path('data'),
      ...FAST,
      '--atol',
      '0.1',
      '--rtol',
      '0.1',
      '--fallbackWorst',
      '1'
    ]);
    assert.match(stdout, /^inputs +2 iterations of .*data \(2 of 2 batches\)$/m);
    assert.match(stdout, /^ {2}\/Conv_\d +Int8Conv +int8 /m);
    const held = /^fallback +1 INT8 layer of largest error held to FP16: (\S+)$/m.exec(stdout);
    assert.ok(held, stdout);
    assert.match(
      stdout,
      new RegExp(`^build +webtrt build with --layerPrecisions ${held[1]}:fp16`, 'm')
    );
    assert.match(stdout, /^compare +int8 engine, 1 INT8 layer held to FP16 against fp32 engine$/m);
    assert.match(stdout, new RegExp(`^ {2}${held[1]} +FusedConv +fp16 `, 'm'));
  });

  test('mistakes are one clear usage error', () => {
    failsWith(
      ['compare', MODEL, path('cnn.wtrt'), '--fp16'],
      2,
      /--fp16 configures a build: the plan .*cnn\.wtrt keeps the configuration it was built with/
    );
    failsWith(['compare', MODEL, '--reference', 'ort'], 2, /--reference must be one of fp32, cpu/);
    failsWith(['compare', MODEL, '--atol=-1'], 2, /--atol must be a number from 0/);
    failsWith(
      ['compare', MODEL, '--data', path('empty')],
      2,
      /holds no \.npy file: each \.npy file is one batch of input 'input'.*\(see 'webtrt compare --help'\)$/
    );
  });
});
