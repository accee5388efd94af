import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Graph, serializeModel } from '@ringtrain/graph';
import { calibrateRanges } from './calibrate.js';
import { entropyThreshold, percentileRange, QUANTIZED_BINS } from './calibration-methods.js';
import { Histogram, HISTOGRAM_BINS } from './histogram.js';

/** Builds y = Relu(x) over x [batch, 4], so that calibration reads a graph input and a computed tensor. */
function reluModel(): Uint8Array {
  const g = new Graph('relu');
  const x = g.input('x', 'float32', ['batch', 4]);
  g.output(g.op('Relu', [x], {}, { name: 'relu' }), 'y');
  return serializeModel(g);
}

function batch(values: number[]): Record<string, ort.Tensor> {
  return { x: new ort.Tensor('float32', Float32Array.from(values), [values.length / 4, 4]) };
}

/** Deterministic standard normal draws (Box-Muller over a 32-bit linear congruential generator). */
function normals(count: number, seed: number): Float64Array {
  let state = seed >>> 0;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  return Float64Array.from({ length: count }, () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
}

/**
 * Runs the entropy search again in float64, written apart from the library, and returns the
 * chosen bin count. Bin 0 takes the count of bin 1. Then each candidate i gets P and Q as in
 * TensorRT's description, smoothing as in onnxruntime's `smooth_distribution`, and KL(P || Q)
 * over normalised distributions.
 */
function referenceEntropyBins(histogram: Float64Array, levels: number): number {
  const counts = Float64Array.from(histogram, (c, k) => (k === 0 ? histogram[1]! : c));
  const smoothed = (d: number[]) => {
    const zeros = d.filter((v) => v === 0).length;
    const share = (1e-4 * zeros) / (d.length - zeros);
    return d.map((v) => (v === 0 ? 1e-4 : v - share));
  };
  let bestBins = -1;
  let bestKl = Infinity;
  for (let i = QUANTIZED_BINS; i <= counts.length; i++) {
    const p = Array.from(counts.subarray(0, i));
    for (let k = i; k < counts.length; k++) p[i - 1] += counts[k]!;
    // Bin k belongs to the first group g whose end floor((g + 1) i / levels) lies beyond k.
    let g = 0;
    const group = p.map((_, k) => {
      while (Math.floor(((g + 1) * i) / levels) <= k) g++;
      return g;
    });
    const groupSum = new Array<number>(levels).fill(0);
    const groupNonZero = new Array<number>(levels).fill(0);
    p.forEach((pk, k) => {
      groupSum[group[k]!]! += counts[k]!;
      if (pk !== 0) groupNonZero[group[k]!]! += 1;
    });
    const q = p.map((pk, k) => (pk === 0 ? 0 : groupSum[group[k]!]! / groupNonZero[group[k]!]!));
    const ps = smoothed(p);
    const qs = smoothed(q);
    const pSum = ps.reduce((a, b) => a + b, 0);
    const qSum = qs.reduce((a, b) => a + b, 0);
    const kl = ps.reduce((acc, pk, k) => acc + (pk / pSum) * Math.log(pk / pSum / (qs[k]! / qSum)), 0);
    if (kl < bestKl) {
      bestKl = kl;
      bestBins = i;
    }
  }
  return bestBins;
}

describe('Histogram', () => {
  it('puts the upper edge in the last bin and counts magnitudes', () => {
    const hist = new Histogram(0, 4, 4);
    hist.add([0, 0.5, 1, 3.99, 4, -2], true);
    expect(Array.from(hist.counts)).toEqual([2, 1, 1, 2]);
    expect(hist.edge(3)).toBe(3);
    expect(hist.total()).toBe(6);
  });

  it('BAD CALL - an empty range', () => {
    expect(() => new Histogram(1, 0)).toThrow(/range \[1, 0\] is empty/);
  });
});

describe('percentileRange', () => {
  const width = 10000 / HISTOGRAM_BINS;

  it('symmetric: the 99th percentile of |x| for x = 1..10000, by hand', () => {
    const hist = new Histogram(0, 10000);
    hist.add(Float64Array.from({ length: 10000 }, (_, i) => (i % 2 === 0 ? 1 : -1) * (i + 1)), true);
    // Bin 2027 ends at 2028 w = 9902.34 and contains the 9,900th value, so t is its right edge.
    expect(percentileRange(hist, 99, true)).toEqual({ min: -2028 * width, max: 2028 * width });
    // 100 keeps everything: the right edge of the last bin, which is the largest magnitude.
    expect(percentileRange(hist, 100, true).max).toBe(10000);
  });

  it('asymmetric: both tails of x = 0..9999 at 98%, by hand', () => {
    const w = 9999 / HISTOGRAM_BINS;
    const hist = new Histogram(0, 9999);
    hist.add(Float64Array.from({ length: 10000 }, (_, i) => i));
    // 1% = 100 values per tail. Bins 0..19 end at 20 w = 97.6 and contain 98 values, so bin 20
    // crosses the cut. From the top, bins 2028.. start at 2028 w = 9901.4 and contain 98 values.
    expect(percentileRange(hist, 98, false)).toEqual({ min: 20 * w, max: 2028 * w });
    expect(percentileRange(hist, 100, false)).toEqual({ min: 0, max: 9999 });
  });
});

describe('entropyThreshold', () => {
  const body = normals(20000, 7);
  const outliers = Float64Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 40 : -40) - i / 10);
  const values = Float64Array.from([...body, ...outliers]);
  const maxAbs = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

  it('clips outliers: the threshold is far below the largest magnitude', () => {
    const hist = new Histogram(0, maxAbs);
    hist.add(values, true);
    const t = entropyThreshold(hist);
    expect(maxAbs).toBeGreaterThan(40);
    expect(t, 'threshold below the outliers').toBeLessThan(maxAbs / 4);
    expect(t, 'threshold above the bulk of a standard normal').toBeGreaterThan(2.5);
  });

  it('matches a float64 reimplementation of the search', () => {
    const relu = Float64Array.from(values, (v) => Math.max(0, v));
    const cases = [['normal with outliers', values, 128], ['normal', body, 128], ['ReLU of it, uint8', relu, 256]] as const;
    for (const [name, data, levels] of cases) {
      const max = data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const hist = new Histogram(0, max);
      hist.add(data, true);
      expect(entropyThreshold(hist, levels), name).toBe(hist.edge(referenceEntropyBins(hist.counts, levels)));
    }
  });

  it('keeps the whole range of a uniform distribution', () => {
    const hist = new Histogram(0, 1);
    hist.add(Float64Array.from({ length: 50000 }, (_, i) => (i + 0.5) / 50000), true);
    expect(entropyThreshold(hist)).toBeGreaterThan(0.95);
  });

  it('an all-zero tensor gets threshold 0', () => {
    const hist = new Histogram(0, 0);
    hist.add(new Float64Array(100), true);
    expect(entropyThreshold(hist)).toBe(0);
  });
});

describe('calibrateRanges', () => {
  const model = reluModel();

  it('min-max over several batches of fixed values', async () => {
    const batches = [batch([-3, 1, 2, 0.5]), batch([4, -0.25, 0, 1, 2, 2, 2, 7.5])];
    const ranges = await calibrateRanges(model, ['x', 'relu'], batches, { method: 'minmax', symmetric: false });
    expect(ranges.get('x')).toEqual({ min: -3, max: 7.5 });
    expect(ranges.get('relu')).toEqual({ min: 0, max: 7.5 });
  });

  it('percentile and entropy run the histograms through onnxruntime', async () => {
    const sample = Array.from({ length: 10000 }, (_, i) => (i % 2 === 0 ? 1 : -1) * (i + 1));
    const batches = [batch(sample.slice(0, 4000)), batch(sample.slice(4000))];
    const percentile = await calibrateRanges(model, ['x'], batches, { method: 'percentile', percentile: 99, symmetric: true });
    const width = 10000 / HISTOGRAM_BINS;
    expect(percentile.get('x')).toEqual({ min: -2028 * width, max: 2028 * width });
    // Asymmetric entropy ranges keep the minimum, so Relu's output keeps min 0.
    const entropy = await calibrateRanges(model, ['relu'], batches, { method: 'entropy', symmetric: false });
    expect(entropy.get('relu')!.min).toBe(0);
    expect(entropy.get('relu')!.max).toBeLessThanOrEqual(10000);
  });

  it('BAD CALL - a percentile outside (0, 100] or no batches', async () => {
    await expect(calibrateRanges(model, ['x'], [batch([1, 2, 3, 4])], { method: 'percentile', percentile: 0, symmetric: false })).rejects.toThrow(
      /percentile must be in \(0, 100\], got 0/,
    );
    await expect(calibrateRanges(model, ['x'], [], { symmetric: false })).rejects.toThrow(/no calibration batches; pass at least one batch/);
  });
});
