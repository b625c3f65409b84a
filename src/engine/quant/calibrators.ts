/**
 * Calibrators: from a tensor's histogram of |x| to the magnitude its INT8 range covers
 * (amax; symmetric, so the scale is amax / 127). Values beyond amax saturate.
 */
import { HISTOGRAM_BINS, TensorHistogram } from './histogram';

/** The largest quantized magnitude of symmetric INT8. */
export const INT8_MAX = 127;

/** TensorRT's entropy search: 128 quantized levels (the non-negative half of INT8). */
const QUANTIZED_LEVELS = 128;

export type Calibrator =
  | { kind: 'entropy' }
  | { kind: 'minmax' }
  /** The amax below which `percentile` percent of the values lie (99.99 is usual). */
  | { kind: 'percentile'; percentile: number };

/** The amax `calibrator` chooses for a tensor of this histogram; 0 for an all-zero tensor. */
export function calibratedAmax(histogram: TensorHistogram, calibrator: Calibrator): number {
  switch (calibrator.kind) {
    case 'minmax':
      return Math.max(Math.abs(histogram.min), Math.abs(histogram.max));
    case 'percentile':
      return percentileAmax(histogram, calibrator.percentile);
    case 'entropy':
      return entropyAmax(histogram);
  }
}

/** The INT8 scale of an amax: one quantized step. */
export function int8Scale(amax: number): number {
  return amax / INT8_MAX;
}

/**
 * The upper edge of the first bin at which the cumulative count reaches `percentile` percent
 * of all values.
 */
export function percentileAmax(histogram: TensorHistogram, percentile: number): number {
  if (!(percentile > 0 && percentile <= 100)) {
    throw new Error(`percentile must be in (0, 100], got ${percentile}`);
  }
  const { counts, binWidth } = histogram;
  const total = counts.reduce((sum, count) => sum + count, 0);
  const wanted = (total * percentile) / 100;
  let cumulative = 0;
  for (let bin = 0; bin < counts.length; bin++) {
    cumulative += counts[bin];
    if (cumulative >= wanted) {
      return (bin + 1) * binWidth;
    }
  }
  return counts.length * binWidth;
}

/**
 * TensorRT's entropy calibration (Migacz, "8-bit Inference with TensorRT", GTC 2017): for each
 * candidate threshold of i bins (128 to 2048), the reference distribution P is the first i bins
 * with the counts beyond them added to the last; the candidate Q is the same i bins merged into
 * 128 levels and spread back over the bins that held values. The threshold whose Q loses the
 * least information, the smallest Kullback-Leibler divergence KL(P || Q), wins; ties go to the
 * smallest. The amax is i + 0.5 bin widths, as TensorRT takes it.
 */
export function entropyAmax(histogram: TensorHistogram): number {
  const { binWidth } = histogram;
  if (binWidth === 0) {
    return 0;
  }
  // After a ReLU half of a tensor may be exact zeros. They quantize exactly at any scale, yet
  // as one tall first bin they would outweigh the rest of the distribution in P and Q: bin 0
  // counts as its neighbour does (as pytorch-quantization's entropy calibration does too).
  const counts = Float64Array.from(histogram.counts);
  counts[0] = counts[1];
  let lastUsed = HISTOGRAM_BINS - 1;
  while (lastUsed > 0 && counts[lastUsed] === 0) {
    lastUsed--;
  }
  // Bins past the last value add nothing to P or Q: the search stops there.
  const end = Math.max(QUANTIZED_LEVELS, lastUsed + 1);
  let best = end;
  let bestDivergence = Infinity;
  for (let bins = QUANTIZED_LEVELS; bins <= end; bins++) {
    const divergence = clippingDivergence(counts, bins);
    if (divergence < bestDivergence) {
      bestDivergence = divergence;
      best = bins;
    }
  }
  return (best + 0.5) * binWidth;
}

/** KL(P || Q) for the threshold of `bins` bins (see entropyAmax). */
function clippingDivergence(counts: Float64Array, bins: number): number {
  const reference = counts.slice(0, bins);
  for (let bin = bins; bin < counts.length; bin++) {
    reference[bins - 1] += counts[bin];
  }
  const candidate = new Float64Array(bins);
  const perLevel = bins / QUANTIZED_LEVELS;
  for (let level = 0; level < QUANTIZED_LEVELS; level++) {
    const start = Math.floor(level * perLevel);
    const stop = level === QUANTIZED_LEVELS - 1 ? bins : Math.floor((level + 1) * perLevel);
    let sum = 0;
    let used = 0;
    for (let bin = start; bin < stop; bin++) {
      sum += counts[bin];
      used += counts[bin] > 0 ? 1 : 0;
    }
    for (let bin = start; bin < stop; bin++) {
      candidate[bin] = counts[bin] > 0 ? sum / used : 0;
    }
  }
  return klDivergence(reference, candidate);
}

/**
 * KL(P || Q) of two unnormalized distributions. Where P has mass and Q has none (the clipped
 * outliers that fall into an empty last bin), Q is given a small share taken evenly from its
 * other bins, as is usual, so that the divergence stays finite and still grows with that mass.
 */
function klDivergence(p: Float64Array, q: Float64Array): number {
  const epsilon = 1e-4;
  const pTotal = p.reduce((sum, value) => sum + value, 0);
  const qTotal = q.reduce((sum, value) => sum + value, 0);
  if (pTotal === 0 || qTotal === 0) {
    return Infinity;
  }
  let missing = 0;
  let present = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] > 0 && q[i] === 0) {
      missing++;
    } else if (q[i] > 0) {
      present++;
    }
  }
  const taken = present > 0 ? (epsilon * missing) / present : 0;
  let divergence = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] > 0) {
      const pi = p[i] / pTotal;
      const qi = q[i] === 0 ? epsilon : q[i] / qTotal - taken;
      divergence += pi * Math.log(pi / Math.max(qi, Number.MIN_VALUE));
    }
  }
  return divergence;
}
