import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  calibratedAmax,
  entropyAmax,
  int8Scale,
  percentileAmax
} from '../../src/engine/quant/calibrators';
import { AbsHistogram, HISTOGRAM_BINS, TensorHistogram } from '../../src/engine/quant/histogram';
import { seededRandom } from '../../src/engine/io/random';

/** A histogram of bin width 1 with the given counts per bin (the rest 0). */
function histogramOf(counts: Record<number, number>): TensorHistogram {
  const bins = new Float64Array(HISTOGRAM_BINS);
  let max = 0;
  for (const [bin, count] of Object.entries(counts)) {
    bins[Number(bin)] = count;
    max = Math.max(max, Number(bin) + 1);
  }
  return { counts: bins, binWidth: 1, min: -max, max, nonFinite: 0 };
}

/** `count` in each of bins [from, to). */
function uniform(from: number, to: number, count = 100): Record<number, number> {
  const counts: Record<number, number> = {};
  for (let bin = from; bin < to; bin++) {
    counts[bin] = count;
  }
  return counts;
}

describe('AbsHistogram', () => {
  test('bins |x| by the first batch range, doubling the width (merging bins) as larger values come', () => {
    const histogram = new AbsHistogram();
    histogram.add([0, 0]);
    histogram.add([-2048, 1, 2.5, NaN, Infinity]);
    let h = histogram.histogram();
    assert.equal(h.binWidth, 1);
    assert.deepEqual([h.counts[0], h.counts[1], h.counts[2], h.counts[2047]], [2, 1, 1, 1]);
    assert.deepEqual([h.min, h.max, h.nonFinite], [-2048, 2.5, 2]);
    histogram.add([5000]);
    h = histogram.histogram();
    assert.equal(h.binWidth, 4);
    // 0, 0 and 1 and 2.5 now share bin 0; 2048 moved to bin 512; 5000 is in bin 1250.
    assert.deepEqual([h.counts[0], h.counts[511], h.counts[1250]], [4, 1, 1]);
    assert.equal(
      h.counts.reduce((sum, count) => sum + count, 0),
      6,
      'merging keeps every finite value'
    );
  });
});

describe('calibrators', () => {
  test('minmax covers the largest magnitude; percentile the given share of values', () => {
    const h = histogramOf({ ...uniform(0, 1000, 10), 1999: 1 });
    assert.equal(calibratedAmax(h, { kind: 'minmax' }), 2000);
    assert.equal(percentileAmax(h, 100), 2000);
    // 50% of 10,001 values is 5,000.5: the 501st bin is the first to reach it.
    assert.equal(percentileAmax(h, 50), 501);
    assert.equal(calibratedAmax(h, { kind: 'percentile', percentile: 99.99 }), 1000);
    assert.throws(() => percentileAmax(h, 0), /percentile must be in \(0, 100\], got 0/);
    assert.equal(int8Scale(127), 1);
  });

  test('entropy: a uniform bulk with nothing beyond it keeps all of it, no more', () => {
    // Every threshold at or past 600 bins quantizes the bulk without loss; the smallest wins.
    assert.equal(entropyAmax(histogramOf(uniform(0, 600))), 600.5);
  });

  test("entropy: a ReLU's exact zeros do not move the threshold", () => {
    // A decaying distribution of |x|, then the same with as many exact zeros as values.
    const decaying: Record<number, number> = {};
    for (let bin = 0; bin < 1500; bin++) {
      decaying[bin] = Math.round(1000 * Math.exp(-bin / 150));
    }
    const total = Object.values(decaying).reduce((sum, count) => sum + count, 0);
    const amax = entropyAmax(histogramOf(decaying));
    assert.equal(entropyAmax(histogramOf({ ...decaying, 0: total })), amax);
  });

  test('entropy: a bulk that only 128 one-bin levels reproduce sets the threshold at 128 bins', () => {
    // Counts alternating 1000, 1: any wider threshold merges unequal neighbours into one level.
    const alternating: Record<number, number> = {};
    for (let bin = 0; bin < 128; bin++) {
      alternating[bin] = bin % 2 === 0 ? 1000 : 1;
    }
    assert.equal(entropyAmax(histogramOf(alternating)), 128.5);
  });

  test('entropy: an isolated outlier costs no information, so it is kept', () => {
    // Levels spread their counts over the bins that held values only: a lone outlier's level
    // reproduces it exactly at the full range, while clipping moves its count.
    const h = histogramOf({ ...uniform(0, 300, 1000), 2000: 1 });
    assert.equal(entropyAmax(h), 2001.5);
    assert.equal(calibratedAmax(h, { kind: 'minmax' }), 2001);
    assert.equal(calibratedAmax(h, { kind: 'percentile', percentile: 99.9 }), 300);
  });

  test('entropy: a heavy tail is kept (clipping it would lose more than coarser steps)', () => {
    // Half the values spread evenly to bin 1500: clipping them loses more than the step size.
    const amax = entropyAmax(histogramOf({ ...uniform(0, 100, 1000), ...uniform(100, 1500, 70) }));
    assert.ok(amax > 1400, `amax ${amax}`);
  });

  test('entropy on normal data lies between the 99th percentile and the maximum', () => {
    const random = seededRandom(3);
    const values = Array.from({ length: 200_000 }, () => {
      // Box-Muller: a standard normal sample.
      const [u, v] = [random() || 1e-12, random()];
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    });
    const histogram = new AbsHistogram();
    histogram.add(values);
    const h = histogram.histogram();
    const amax = entropyAmax(h);
    assert.ok(amax > percentileAmax(h, 99), `amax ${amax}`);
    assert.ok(amax < calibratedAmax(h, { kind: 'minmax' }), `amax ${amax}`);
  });

  test('an all-zero tensor has amax 0', () => {
    const histogram = new AbsHistogram();
    histogram.add([0, 0, 0]);
    const h = histogram.histogram();
    assert.equal(h.binWidth, 0);
    assert.equal(entropyAmax(h), 0);
    assert.equal(calibratedAmax(h, { kind: 'minmax' }), 0);
  });
});
