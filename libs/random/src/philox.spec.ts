import { describe, expect, it } from 'vitest';
import { Philox, mix32, permutation, philox4x32 } from './philox.js';

const hex = (words: Uint32Array) => Array.from(words, (w) => w.toString(16).padStart(8, '0'));

describe('philox4x32', () => {
  // Known-answer vectors of the Random123 distribution (kat_vectors, philox4x32_10).
  it('matches the known answer for a zero counter and key', () => {
    const out = new Uint32Array(4);
    philox4x32([0, 0, 0, 0], [0, 0], out);
    expect(hex(out)).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
  });

  it('matches the known answer for all-ones words', () => {
    const out = new Uint32Array(4);
    const ones = 0xffffffff;
    philox4x32([ones, ones, ones, ones], [ones, ones], out);
    expect(hex(out)).toEqual(['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
  });

  it('matches the known answer for the digits of pi', () => {
    const out = new Uint32Array(4);
    philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], out);
    expect(hex(out)).toEqual(['d16cfe09', '94fdcceb', '5001e420', '24126ea1']);
  });
});

describe('Philox', () => {
  it('returns the same draw for the same index in any order', () => {
    const a = new Philox(7, 3, 11);
    const forward = [0, 1, 2, 3, 4, 5, 1000, 2 ** 40].map((i) => a.uint32(i));
    const b = new Philox(7, 3, 11);
    const backward = [2 ** 40, 1000, 5, 4, 3, 2, 1, 0].map((i) => b.uint32(i)).reverse();
    expect(backward).toEqual(forward);
  });

  it('separates streams and seeds', () => {
    const draws = (rng: Philox) => Array.from({ length: 8 }, (_, i) => rng.uint32(i));
    const base = draws(new Philox(1, 2, 3));
    expect(draws(new Philox(1, 2, 4))).not.toEqual(base);
    expect(draws(new Philox(2, 2, 3))).not.toEqual(base);
    expect(draws(new Philox(1, 2, 3, 9))).not.toEqual(draws(new Philox(1, 2, 3, 10)));
  });

  it('gives uniforms with the right mean and range', () => {
    const rng = new Philox(123);
    const out = new Float32Array(100_000);
    rng.fillUniform(out, 0);
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const v of out) {
      sum += v;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    // Standard error of the mean is about 0.0009 here; 0.005 is over 5 sigma.
    expect(Math.abs(sum / out.length - 0.5)).toBeLessThan(0.005);
  });

  it('gives normals with mean 0 and variance 1', () => {
    const rng = new Philox(5);
    let sum = 0;
    let sumSq = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      const x = rng.normal(i);
      sum += x;
      sumSq += x * x;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.03);
    expect(Math.abs(sumSq / n - 1)).toBeLessThan(0.03);
  });

  it('BAD CALL - rejects a negative seed', () => {
    expect(() => new Philox(-1)).toThrow(/seed must be an integer in \[0, 2\^32\), got -1/);
  });
});

describe('permutation', () => {
  it('is a permutation and a pure function of its key', () => {
    const p = permutation(1000, 42, 2, 0);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(permutation(1000, 42, 2, 0)).toEqual(p);
    expect(permutation(1000, 42, 2, 1)).not.toEqual(p);
  });

  it('handles empty and single-element inputs', () => {
    expect(permutation(0, 1).length).toBe(0);
    expect(Array.from(permutation(1, 1))).toEqual([0]);
  });
});

describe('mix32', () => {
  it('depends on the order of the words', () => {
    expect(mix32([1, 2])).not.toBe(mix32([2, 1]));
  });
});
