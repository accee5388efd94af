/** Number of histogram bins of percentile and entropy calibration, as in TensorRT and onnxruntime. */
export const HISTOGRAM_BINS = 2048;

/**
 * A histogram of equal-width bins over [low, high]. Bin k counts the values in
 * [low + k w, low + (k + 1) w), and the last bin also counts `high`, as numpy's histogram does.
 * Values outside the range go to the first or last bin.
 */
export class Histogram {
  readonly counts: Float64Array;
  readonly binWidth: number;

  constructor(
    readonly low: number,
    readonly high: number,
    bins = HISTOGRAM_BINS,
  ) {
    if (!(high >= low)) throw new RangeError(`histogram range [${low}, ${high}] is empty; high must be >= low`);
    this.counts = new Float64Array(bins);
    this.binWidth = (high - low) / bins;
  }

  /** Adds finite values, or their magnitudes when `absolute` is true. Non-finite values are ignored. */
  add(values: ArrayLike<number>, absolute = false): void {
    const last = this.counts.length - 1;
    for (let i = 0; i < values.length; i++) {
      const v = absolute ? Math.abs(values[i]!) : values[i]!;
      if (!Number.isFinite(v)) continue;
      // A zero-width range puts every value in bin 0.
      const k = this.binWidth > 0 ? Math.floor((v - this.low) / this.binWidth) : 0;
      this.counts[Math.min(last, Math.max(0, k))] += 1;
    }
  }

  /** Returns the left edge of bin k, which is the right edge of bin k - 1. */
  edge(k: number): number {
    return this.low + k * this.binWidth;
  }

  /** Returns the number of values added. */
  total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }
}
