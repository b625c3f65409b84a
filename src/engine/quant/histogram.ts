/**
 * What INT8 calibration gathers per tensor: a histogram of |x| over TensorRT's 2048 bins, and
 * the tensor's min and max, from as many batches as the calibration data has.
 */

/** TensorRT's histogram resolution for calibration. */
export const HISTOGRAM_BINS = 2048;

/** A finished histogram, as calibrators read it (plain data). */
export interface TensorHistogram {
  /** Elements per bin; bin i holds |x| in [i·binWidth, (i+1)·binWidth). */
  counts: Float64Array;
  /** 0 while every value seen is 0. */
  binWidth: number;
  min: number;
  max: number;
  /** NaN and infinities: counted apart, in no bin. */
  nonFinite: number;
}

/**
 * A histogram of |x| that grows with the data in one pass: the first values that are not all 0
 * fix the bin width, and a later value beyond the last bin doubles it, merging bins pairwise,
 * until the value fits. Counts are never spread: merged bins hold exactly what they held.
 */
export class AbsHistogram {
  private readonly counts = new Float64Array(HISTOGRAM_BINS);
  private binWidth = 0;
  private min = Infinity;
  private max = -Infinity;
  private nonFinite = 0;
  /** Values seen while every one was 0: they go into bin 0 once the width is known. */
  private zeros = 0;

  add(values: ArrayLike<number>): void {
    let largest = 0;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (Number.isFinite(value)) {
        largest = Math.max(largest, Math.abs(value));
        this.min = Math.min(this.min, value);
        this.max = Math.max(this.max, value);
      }
    }
    if (largest > 0) {
      this.fit(largest);
    }
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (!Number.isFinite(value)) {
        this.nonFinite++;
      } else if (this.binWidth === 0) {
        this.zeros++;
      } else {
        const bin = Math.floor(Math.abs(value) / this.binWidth);
        this.counts[Math.min(bin, HISTOGRAM_BINS - 1)]++;
      }
    }
  }

  /** A copy of what has been gathered. */
  histogram(): TensorHistogram {
    const empty = this.min > this.max;
    return {
      counts: Float64Array.from(this.counts),
      binWidth: this.binWidth,
      min: empty ? 0 : this.min,
      max: empty ? 0 : this.max,
      nonFinite: this.nonFinite
    };
  }

  /** Makes the bins reach `largest`: sets the width the first time, then doubles it as needed. */
  private fit(largest: number): void {
    if (this.binWidth === 0) {
      this.binWidth = largest / HISTOGRAM_BINS;
      this.counts[0] += this.zeros;
      this.zeros = 0;
    }
    // A value exactly at the top edge falls in the last bin (see add).
    while (largest > this.binWidth * HISTOGRAM_BINS) {
      for (let i = 0; i < HISTOGRAM_BINS / 2; i++) {
        this.counts[i] = this.counts[2 * i] + this.counts[2 * i + 1];
      }
      this.counts.fill(0, HISTOGRAM_BINS / 2);
      this.binWidth *= 2;
    }
  }
}
