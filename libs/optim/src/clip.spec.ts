import { describe, expect, it } from 'vitest';
import { clipGradNorm, globalNorm } from './clip.js';

describe('globalNorm', () => {
  it('is the L2 norm of the buffer', () => {
    expect(globalNorm(Float32Array.of(3, 4))).toBe(5);
  });

  it('accumulates in float64', () => {
    // 2^24 + 1 ones: a float32 accumulator stops growing at 2^24, float64 does not.
    const grads = new Float32Array(2 ** 24 + 1).fill(1);
    expect(globalNorm(grads) ** 2).toBeCloseTo(2 ** 24 + 1, 3);
  });
});

describe('clipGradNorm', () => {
  it('scales down to maxNorm', () => {
    const grads = Float32Array.of(3, 4, 0);
    const norm = clipGradNorm(grads, 1);
    expect(norm).toBe(5); // the norm before clipping
    expect(globalNorm(grads)).toBeCloseTo(1, 5);
    expect(grads[0]! / grads[1]!).toBeCloseTo(0.75, 6);
  });

  it('leaves gradients below maxNorm unchanged', () => {
    const grads = Float32Array.of(0.3, 0.4);
    expect(clipGradNorm(grads, 1)).toBeCloseTo(0.5, 7);
    expect(Array.from(grads)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });

  it('leaves non-finite gradients unchanged', () => {
    const grads = Float32Array.of(1, Number.POSITIVE_INFINITY);
    expect(clipGradNorm(grads, 1)).toBe(Number.POSITIVE_INFINITY);
    expect(grads[0]).toBe(1);
  });

  it('BAD CALL - maxNorm 0', () => {
    expect(() => clipGradNorm(Float32Array.of(1), 0)).toThrow(/maxNorm must be a finite number > 0/);
  });
});
