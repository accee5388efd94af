import { describe, expect, it } from 'vitest';
import { fillDropoutMask, type DropoutMaskOptions } from './dropout.js';

function mask(options: Omit<DropoutMaskOptions, 'sampleIds'> & { sampleIds: number[] }): Float32Array {
  const out = new Float32Array(options.sampleIds.length * options.width);
  fillDropoutMask(out, options);
  return out;
}

const range = (start: number, end: number) => Array.from({ length: end - start }, (_, i) => start + i);

describe('fillDropoutMask', () => {
  const base = { seed: 42, step: 17, layer: 1, width: 64, keepProb: 0.8 };

  it('writes only 0 and 1 / keepProb', () => {
    const values = new Set(mask({ ...base, sampleIds: range(0, 16) }));
    expect([...values].sort()).toEqual([0, Math.fround(1 / 0.8)].sort());
  });

  it('keeps about keepProb of the units', () => {
    const out = mask({ ...base, width: 512, sampleIds: range(0, 128) });
    const keptFraction = out.reduce((n, v) => n + (v > 0 ? 1 : 0), 0) / out.length;
    // 65536 Bernoulli(0.8) draws: the standard deviation of the fraction is about 0.0016.
    expect(Math.abs(keptFraction - 0.8)).toBeLessThan(0.01);
  });

  for (const worldSize of [2, 4]) {
    it(`rows match one process holding the whole batch (world size ${worldSize})`, () => {
      const globalIds = [5, 900, 17, 33, 2, 71, 640, 12];
      const whole = mask({ ...base, sampleIds: globalIds });
      const perRank = globalIds.length / worldSize;
      for (let rank = 0; rank < worldSize; rank++) {
        const ids = globalIds.slice(rank * perRank, (rank + 1) * perRank);
        const part = mask({ ...base, sampleIds: ids });
        const expected = whole.subarray(rank * perRank * base.width, (rank + 1) * perRank * base.width);
        expect(Array.from(part)).toEqual(Array.from(expected));
      }
    });
  }

  it('samples 64..127 match rows 64..127 of a 128-sample batch', () => {
    const whole = mask({ ...base, sampleIds: range(0, 128) });
    const upper = mask({ ...base, sampleIds: range(64, 128) });
    expect(Array.from(upper)).toEqual(Array.from(whole.subarray(64 * base.width)));
  });

  it('differs between layers, steps and samples', () => {
    const reference = mask({ ...base, sampleIds: [3] });
    expect(Array.from(mask({ ...base, layer: 2, sampleIds: [3] }))).not.toEqual(Array.from(reference));
    expect(Array.from(mask({ ...base, step: 18, sampleIds: [3] }))).not.toEqual(Array.from(reference));
    expect(Array.from(mask({ ...base, sampleIds: [4] }))).not.toEqual(Array.from(reference));
  });

  it('keepProb 1 keeps every unit', () => {
    expect(mask({ ...base, keepProb: 1, sampleIds: [0, 1] }).every((v) => v === 1)).toBe(true);
  });

  it('BAD CALL - keepProb 0', () => {
    expect(() => mask({ ...base, keepProb: 0, sampleIds: [0] })).toThrow(/keepProb must be in \(0, 1\], got 0/);
  });

  it('BAD CALL - buffer of the wrong length', () => {
    expect(() => fillDropoutMask(new Float32Array(10), { ...base, sampleIds: [0] })).toThrow(
      /dropout mask buffer has 10 elements, expected 64/,
    );
  });
});
