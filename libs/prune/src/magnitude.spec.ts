import { describe, expect, it } from 'vitest';
import { isMaskStep, sparsityAt, updateMagnitudeMasks, type PruneSchedule } from './magnitude.js';

const SCHEDULE: PruneSchedule = { sparsity: 0.8, startStep: 10, endStep: 30, every: 5 };

describe('pruning schedule', () => {
  it('ramps the sparsity along the cubic from start to end', () => {
    expect(sparsityAt(0, SCHEDULE)).toBe(0);
    expect(sparsityAt(10, SCHEDULE)).toBe(0);
    // Halfway the cubic has done 1 - 0.5^3 = 87.5% of the way.
    expect(sparsityAt(20, SCHEDULE)).toBeCloseTo(0.8 * 0.875, 12);
    expect(sparsityAt(30, SCHEDULE)).toBe(0.8);
    expect(sparsityAt(99, SCHEDULE)).toBe(0.8);
  });

  it('updates masks every few steps and at the end', () => {
    const steps = Array.from({ length: 40 }, (_, s) => s).filter((s) => isMaskStep(s, { ...SCHEDULE, endStep: 32 }));
    expect(steps).toEqual([10, 15, 20, 25, 30, 32]);
  });
});

describe('updateMagnitudeMasks', () => {
  const tensors = () => [
    { values: Float32Array.from([0.1, -0.5, 0.3, 2, -0.05, 0.7]), mask: new Float32Array(6) },
    { values: Float32Array.from([1, -3, 0.2, 0.4]), mask: new Float32Array(4) },
  ];

  it('prunes the smallest magnitudes over all tensors', () => {
    const w = tensors();
    updateMagnitudeMasks(w, 0.5, 'global');
    // The five smallest of the ten: 0.05, 0.1, 0.2, 0.3, 0.4.
    expect(Array.from(w[0]!.mask)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(Array.from(w[1]!.mask)).toEqual([1, 1, 0, 0]);
  });

  it('prunes the same share of each tensor', () => {
    const w = tensors();
    updateMagnitudeMasks(w, 0.25, 'layer');
    expect(Array.from(w[0]!.mask)).toEqual([1, 1, 1, 1, 0, 1]);
    expect(Array.from(w[1]!.mask)).toEqual([1, 1, 0, 1]);
    // One global threshold at the same sparsity takes both weights from the first tensor.
    const g = tensors();
    updateMagnitudeMasks(g, 0.25, 'global');
    expect(Array.from(g[0]!.mask)).toEqual([0, 1, 1, 1, 0, 1]);
    expect(Array.from(g[1]!.mask)).toEqual([1, 1, 1, 1]);
  });

  it('breaks ties in index order, so the count is exact', () => {
    const w = [{ values: Float32Array.from([0.5, 0.5, 0.5, 0.5, 1]), mask: new Float32Array(5) }];
    updateMagnitudeMasks(w, 0.4, 'global');
    expect(Array.from(w[0]!.mask)).toEqual([0, 0, 1, 1, 1]);
  });

  it('keeps zeroed weights pruned as the sparsity grows', () => {
    const w = tensors();
    updateMagnitudeMasks(w, 0.3, 'global');
    const first = w.map((t) => Array.from(t.mask));
    w.forEach((t) => t.mask.forEach((m, i) => m === 0 && (t.values[i] = 0)));
    updateMagnitudeMasks(w, 0.6, 'global');
    w.forEach((t, k) => first[k]!.forEach((m, i) => m === 0 && expect(t.mask[i]).toBe(0)));
  });

  it('EXPECTED FAILURE - a sparsity of 1', () => {
    expect(() => updateMagnitudeMasks(tensors(), 1, 'global')).toThrow(/sparsity must be in \[0, 1\), got 1/);
  });
});
