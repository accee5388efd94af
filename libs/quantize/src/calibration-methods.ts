import type { Histogram } from './histogram.js';

/** Method that chooses a calibrated range from the observed activations. */
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

/** A calibrated range [min, max] of one tensor. */
export interface TensorRange {
  min: number;
  max: number;
}

/**
 * Returns the range that keeps `percentile` percent of the values, from a histogram. With
 * `symmetric`, the histogram is of |x| over [0, max |x|] and the range is [-t, t], where t is
 * the right edge of the bin in which the cumulative count reaches the percentile. Otherwise the
 * histogram is of x over [min, max], and (100 - percentile) / 2 percent is cut from each tail.
 * The range then runs from the left edge of the first bin that crosses the lower cut to the
 * right edge of the last bin that crosses the upper cut. Either way the result is exact to one
 * bin width.
 */
export function percentileRange(hist: Histogram, percentile: number, symmetric: boolean): TensorRange {
  const counts = hist.counts;
  const total = hist.total();
  if (symmetric) {
    const target = (percentile / 100) * total;
    let cumulative = 0;
    let k = 0;
    for (; k < counts.length - 1; k++) {
      cumulative += counts[k]!;
      if (cumulative >= target) break;
    }
    const t = hist.edge(k + 1);
    return { min: -t, max: t };
  }
  const tail = ((100 - percentile) / 200) * total;
  let first = 0;
  for (let below = counts[0]!; below <= tail && first < counts.length - 1; below += counts[++first]!);
  let last = counts.length - 1;
  for (let above = counts[last]!; above <= tail && last > 0; above += counts[--last]!);
  return { min: hist.edge(first), max: hist.edge(Math.max(first, last) + 1) };
}

/** Smallest candidate of the entropy search, in histogram bins: the int8 magnitudes 0..127. */
export const QUANTIZED_BINS = 128;

/**
 * Returns the clipping threshold with the smallest KL divergence KL(P || Q) between the
 * clipped activations and their quantisation to `levels` levels, the entropy calibration of
 * TensorRT (Migacz, "8-bit Inference with TensorRT", GTC 2017). For symmetric int8, `hist` is
 * a histogram of |x| over [0, max |x|], `levels` is 128, and the result t clips to [-t, t].
 * For uint8, `hist` is a histogram of x over [min, max], `levels` is 256, and the result t
 * clips to [min, t], so only the upper tail is cut. For each candidate i from 128 bins to all
 * bins:
 *
 * - P is the first i bins, with the count of every later bin added to bin i - 1;
 * - Q merges the first i bins into `levels` groups, where group g covers bins floor(g i / levels)
 *   up to floor((g + 1) i / levels). It spreads each group's count evenly over the bins of the
 *   group that are non-zero in P;
 * - both are smoothed (a zero bin gets 1e-4, taken evenly from the non-zero bins) and
 *   normalised, and the candidate's threshold is the right edge of bin i - 1.
 *
 * Bin 0 first takes the count of bin 1, as in NVIDIA's pytorch-quantization, so that the exact
 * zeros of a ReLU output, or the background of an image at its minimum, do not dominate the
 * search.
 *
 * NOTE: onnxruntime's calibrate.py runs the search on a histogram of x centred on 0 and gives
 * the remainder of i / 128 bins to the last group, so its thresholds can differ from these.
 */
export function entropyThreshold(hist: Histogram, levels = QUANTIZED_BINS): number {
  const counts = hist.counts.slice();
  const bins = counts.length;
  if (bins < QUANTIZED_BINS + 1) throw new RangeError(`entropy calibration needs more than ${QUANTIZED_BINS} bins, got ${bins}`);
  counts[0] = counts[1]!;
  let outliers = counts.slice(QUANTIZED_BINS).reduce((a, b) => a + b, 0);
  let best = { divergence: Infinity, bins };
  for (let i = QUANTIZED_BINS; i <= bins; i++) {
    const p = counts.slice(0, i);
    p[i - 1] += outliers;
    const divergence = klDivergence(p, expandedQuantization(counts, p, levels));
    if (divergence < best.divergence) best = { divergence, bins: i };
    if (i < bins) outliers -= counts[i]!;
  }
  return hist.edge(best.bins);
}

/** Returns Q of {@link entropyThreshold} for the candidate whose reference distribution is `p`. */
function expandedQuantization(counts: Float64Array, p: Float64Array, levels: number): Float64Array {
  const i = p.length;
  const q = new Float64Array(i);
  for (let g = 0; g < levels; g++) {
    const start = Math.floor((g * i) / levels);
    const end = Math.floor(((g + 1) * i) / levels);
    let sum = 0;
    let nonZero = 0;
    for (let k = start; k < end; k++) {
      sum += counts[k]!;
      if (p[k] !== 0) nonZero++;
    }
    if (nonZero === 0) continue;
    for (let k = start; k < end; k++) if (p[k] !== 0) q[k] = sum / nonZero;
  }
  return q;
}

/** Smoothing mass of a zero bin, as in onnxruntime's and MXNet's `smooth_distribution`. */
const SMOOTHING = 1e-4;

/**
 * Moves SMOOTHING into every zero bin, taken evenly from the non-zero bins, so that the
 * divergence stays finite. Returns undefined when every bin is zero or a non-zero bin is too
 * small to give its share.
 */
function smooth(counts: Float64Array): Float64Array | undefined {
  const zeros = counts.reduce((n, c) => n + (c === 0 ? 1 : 0), 0);
  const nonZero = counts.length - zeros;
  if (nonZero === 0) return undefined;
  const taken = (SMOOTHING * zeros) / nonZero;
  const smoothed = counts.map((c) => (c === 0 ? SMOOTHING : c - taken));
  return smoothed.every((c) => c > 0) ? smoothed : undefined;
}

/** Returns KL(p || q) in nats after smoothing and normalising both, or Infinity when either is empty. */
function klDivergence(pCounts: Float64Array, qCounts: Float64Array): number {
  const p = smooth(pCounts);
  const q = smooth(qCounts);
  if (p === undefined || q === undefined) return Infinity;
  const pTotal = p.reduce((a, b) => a + b, 0);
  const qTotal = q.reduce((a, b) => a + b, 0);
  let divergence = 0;
  for (let k = 0; k < p.length; k++) {
    const pk = p[k]! / pTotal;
    if (pk > 0) divergence += pk * Math.log(pk / (q[k]! / qTotal));
  }
  return divergence;
}
