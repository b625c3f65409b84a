import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Tensor } from '../../src/engine/ir/tensor';
import { outputSummary, runReport } from '../../src/engine/reports/run';
import { reportText } from '../../src/engine/reports/text';
import { randomTensor } from '../helpers/random';

describe('outputSummary', () => {
  test('statistics over the finite values, NaN and infinities counted apart', () => {
    const values = [1, 2, 3, 4, NaN, Infinity, -1, 0, -Infinity, 0.5];
    const summary = outputSummary('y', Tensor.fromNumbers('float32', [2, 5], values));
    // Finite: 1 2 3 4 -1 0 0.5 → sum 9.5 over 7; squared deviations summed by hand below.
    const finite = [1, 2, 3, 4, -1, 0, 0.5];
    const mean = 9.5 / 7;
    let squares = 0;
    for (const v of finite) {
      squares += (v - mean) * (v - mean);
    }
    assert.equal(summary.stats.min, -1);
    assert.equal(summary.stats.max, 4);
    assert.ok(Math.abs(summary.stats.mean - mean) < 1e-12);
    assert.ok(Math.abs(summary.stats.std - Math.sqrt(squares / 7)) < 1e-12);
    assert.equal(summary.stats.nonFinite, 3);
    assert.deepEqual(summary.shape, [2, 5]);
    assert.deepEqual(summary.head, [1, 2, 3, 4, NaN, Infinity]);
    // Top-k of the first row [1, 2, 3, 4, NaN]: NaN is no score.
    assert.deepEqual(summary.topK, [
      { index: 3, score: 4 },
      { index: 2, score: 3 },
      { index: 1, score: 2 },
      { index: 0, score: 1 }
    ]);
  });

  test('top-k of a random classifier output equals a sort of its first row', () => {
    const logits = randomTensor([3, 100], { seed: 5 });
    const row = Array.from(logits.toNumbers().subarray(0, 100));
    const expected = row
      .map((score, index) => ({ index, score }))
      .sort((a, b) => b.score - a.score)
      .slice(0, 5);
    const summary = outputSummary('logits', logits);
    assert.deepEqual(summary.topK, expected);
    const all = Array.from(logits.toNumbers());
    assert.equal(summary.stats.min, Math.min(...all));
    assert.equal(summary.stats.max, Math.max(...all));
    assert.deepEqual(
      outputSummary('logits', logits, { topK: 2, head: 2 }).topK,
      expected.slice(0, 2)
    );
    assert.equal(outputSummary('logits', logits, { head: 2 }).head.length, 2);
    assert.equal(outputSummary('logits', logits, { topK: 0 }).topK, undefined);
  });

  test('ties rank by index; only [N, C] and [C] floats with C > 1 have a top-k', () => {
    const tied = outputSummary('p', Tensor.fromNumbers('float32', [3], [0.5, 0.75, 0.5]), {
      topK: 2
    });
    assert.deepEqual(tied.topK, [
      { index: 1, score: 0.75 },
      { index: 0, score: 0.5 }
    ]);
    const none = [
      Tensor.fromNumbers('int64', [4], [1, 2, 3, 4]),
      Tensor.fromNumbers('float32', [2, 1], [1, 2]),
      randomTensor([1, 2, 3], { seed: 1 }),
      new Tensor('float32', [0, 10])
    ];
    for (const tensor of none) {
      assert.equal(outputSummary('t', tensor).topK, undefined, `[${tensor.shape.join(', ')}]`);
    }
    const empty = outputSummary('e', new Tensor('float32', [0, 10]));
    assert.deepEqual(empty.stats, { min: NaN, max: NaN, mean: NaN, std: NaN, nonFinite: 0 });
    assert.throws(
      () => outputSummary('t', none[0], { topK: -1 }),
      /topK must be a non-negative integer/
    );
  });
});

describe('runReport', () => {
  test('inputs, output summaries with their files, latency; and its text', () => {
    const report = runReport(
      {
        source: 'classifier.onnx',
        device: 'google swiftshader',
        inputs: [{ name: 'x', dtype: 'float32', shape: [1, 3], from: 'x.npy' }],
        outputs: { probs: Tensor.fromNumbers('float32', [1, 3], [0.2, 0.7, 0.1]) },
        timesMs: [3, 1, 2],
        files: { probs: 'out/probs.npy' }
      },
      { topK: 2 }
    );
    assert.equal(report.kind, 'run');
    assert.equal(report.latency.count, 3);
    assert.equal(report.latency.median, 2);
    assert.equal(report.outputs[0].file, 'out/probs.npy');
    assert.deepEqual(
      report.outputs[0].topK?.map(entry => entry.index),
      [1, 0]
    );
    const text = reportText(report);
    assert.match(text, /^source +classifier\.onnx$/m);
    assert.match(text, /^ {2}x {2}float32 {2}\[1, 3\] {2}x\.npy$/m);
    assert.match(
      text,
      /^latency +median 2\.00 ms of 3 runs \(min 1\.00 ms, p90 3\.00 ms, max 3\.00 ms\)$/m
    );
    const probs = text.split('\n').find(line => line.startsWith('  probs '));
    assert.ok(probs, text);
    assert.match(
      probs,
      /float32 {2}\[1, 3\] {2}min 0\.1 {2}max 0\.7 {2}mean 0\.333333 {2}std 0\.2624\d* {2}\[0\.2, 0\.7, 0\.1\] {2}-> out\/probs\.npy$/
    );
    assert.match(text, /^ {4}top 2: #1 0\.7, #0 0\.2$/m);
  });
});
