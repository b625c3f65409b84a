import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chromeTrace, latencySummary, profileTable } from '../../src/engine/runtime/stats';

describe('latencySummary', () => {
  test('ten samples, given unsorted', () => {
    const samples = [5, 1, 9, 3, 7, 2, 10, 4, 8, 6];
    assert.deepEqual(latencySummary(samples), {
      count: 10,
      min: 1,
      max: 10,
      mean: 5.5,
      median: 5.5,
      // floor(0.1 * 10) = 1 sample left out: the 9th; floor(0.05 * 10) = 0: the largest.
      p90: 9,
      p95: 10,
      p99: 10
    });
    assert.deepEqual(samples, [5, 1, 9, 3, 7, 2, 10, 4, 8, 6], 'the input is left as it was');
  });

  test('1..100 ms: trtexec counts in float32, so its p99 of 100 samples is the maximum', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    const summary = latencySummary(samples);
    assert.equal(summary.median, 50.5);
    assert.equal(summary.mean, 50.5);
    // float32(1 - 0.9) * 100 = 10.0000024: 10 left out; 1 - float32(0.99) < 0.01: none left out.
    assert.equal(summary.p90, 90);
    assert.equal(summary.p95, 95);
    assert.equal(summary.p99, 100);
  });

  test('an odd count has a middle sample; one sample is every statistic', () => {
    assert.equal(latencySummary([3, 1, 2]).median, 2);
    assert.deepEqual(latencySummary([0.25]), {
      count: 1,
      min: 0.25,
      max: 0.25,
      mean: 0.25,
      median: 0.25,
      p90: 0.25,
      p95: 0.25,
      p99: 0.25
    });
  });

  test('no samples is an error', () => {
    assert.throws(() => latencySummary([]), /latencySummary: no latency samples/);
  });
});

describe('chromeTrace', () => {
  test('complete events in microseconds on one named thread per category', () => {
    const trace = chromeTrace(
      [
        { name: 'upload', category: 'host', startMs: 0, durationMs: 0.5 },
        { name: 'conv1', category: 'gpu', startMs: 0.5, durationMs: 1.25, args: { tactic: 2 } },
        { name: 'relu1', category: 'gpu', startMs: 1.75, durationMs: 0.125 }
      ],
      'webtrt resnet50'
    );
    assert.equal(trace.displayTimeUnit, 'ms');
    assert.deepEqual(JSON.parse(JSON.stringify(trace)), trace, 'plain JSON');
    const metadata = trace.traceEvents.filter(e => e.ph === 'M');
    assert.deepEqual(metadata, [
      { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'webtrt resnet50' } },
      { name: 'thread_name', ph: 'M', pid: 1, tid: 1, args: { name: 'host' } },
      { name: 'thread_name', ph: 'M', pid: 1, tid: 2, args: { name: 'gpu' } }
    ]);
    const spans = trace.traceEvents.filter(e => e.ph === 'X');
    assert.deepEqual(spans, [
      { name: 'upload', cat: 'host', ph: 'X', ts: 0, dur: 500, pid: 1, tid: 1 },
      {
        name: 'conv1',
        cat: 'gpu',
        ph: 'X',
        ts: 500,
        dur: 1250,
        pid: 1,
        tid: 2,
        args: { tactic: 2 }
      },
      { name: 'relu1', cat: 'gpu', ph: 'X', ts: 1750, dur: 125, pid: 1, tid: 2 }
    ]);
  });

  test('no events still names the process', () => {
    assert.deepEqual(chromeTrace([], 'p').traceEvents, [
      { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'p' } }
    ]);
  });
});

describe('profileTable', () => {
  test("trtexec's --dumpProfile layout, with zero-time layers left out", () => {
    const table = profileTable([
      { name: 'conv1 + relu1', timesMs: [1, 3, 2, 2] },
      { name: 'reshape', timesMs: [0, 0, 0, 0] },
      { name: 'fc', timesMs: [0.5, 0.5, 1, 2] }
    ]);
    // Totals per iteration: 1.5, 3.5, 3, 4 → median (3 + 3.5) / 2.
    const expected = [
      '=== Profile (4 iterations ) ===',
      '         Layer   Time (ms)   Avg. Time (ms)   Median Time (ms)   Time %',
      ' conv1 + relu1        8.00           2.0000             2.0000     66.7',
      '            fc        4.00           1.0000             0.7500     33.3',
      '         Total       12.00           3.0000             3.2500    100.0',
      ''
    ].join('\n');
    assert.equal(table, expected);
  });

  test('layers timed over different iterations, or nothing, are errors', () => {
    assert.throws(
      () =>
        profileTable([
          { name: 'a', timesMs: [1, 2] },
          { name: 'b', timesMs: [1] }
        ]),
      /layer 'b' has 1 times, 'a' has 2/
    );
    assert.throws(() => profileTable([]), /no layer times/);
  });
});
