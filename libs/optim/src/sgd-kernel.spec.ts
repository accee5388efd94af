import { describe, expect, it } from 'vitest';
import { SgdKernel } from './sgd-kernel.js';
import { Sgd } from './sgd.js';

function fillRandom(out: Float32Array, seed: number): void {
  let x = seed;
  for (let i = 0; i < out.length; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out[i] = x / 2147483648 - 0.5;
  }
}

function prepared(size: number): SgdKernel {
  const kernel = SgdKernel.create(size)!;
  fillRandom(kernel.params, 1);
  fillRandom(kernel.grads, 2);
  fillRandom(kernel.momentum, 3);
  return kernel;
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('SgdKernel', () => {
  it('is available on this runtime', () => {
    expect(SgdKernel.create(10)).toBeDefined();
  });

  for (const nesterov of [false, true]) {
    it(`SIMD lanes equal the scalar path bitwise, nesterov ${nesterov}`, () => {
      const simd = prepared(1003);
      const scalar = prepared(1003);
      simd.update(3, 1001, 0.05, 0.9, 1 / 96, 1e-4, nesterov);
      // One element per call never fills a group of four, so every element takes the scalar path.
      for (let i = 3; i < 1001; i++) scalar.update(i, i + 1, 0.05, 0.9, 1 / 96, 1e-4, nesterov);
      expect(bits(simd.params).equals(bits(scalar.params))).toBe(true);
      expect(bits(simd.momentum).equals(bits(scalar.momentum))).toBe(true);
      // Elements outside the range are untouched.
      expect(simd.params[0]).toBe(prepared(1003).params[0]);
      expect(simd.params[1002]).toBe(prepared(1003).params[1002]);
    });
  }
});

describe('Sgd with the kernel', () => {
  it('agrees with the scalar loop to float32 rounding', () => {
    const size = 4099;
    const options = { lr: 0.1, momentum: 0.9, weightDecay: 1e-3, decayMask: [{ offset: 0, size: 17, decay: false }] };
    const fast = new Sgd(size, options);
    const slow = new Sgd(size, { ...options, scalar: true });
    const a = new Float32Array(size);
    fillRandom(a, 5);
    const b = a.slice();
    const grads = new Float32Array(size);
    for (let step = 0; step < 5; step++) {
      fillRandom(grads, 10 + step);
      fast.step(a, grads, undefined, 0.5);
      slow.step(b, grads, undefined, 0.5);
    }
    let maxDiff = 0;
    for (let i = 0; i < size; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    // The scalar loop rounds to float32 less often; the two differ by a few ulps of values near 0.5.
    expect(maxDiff).toBeLessThan(1e-6);
    expect(fast.exportState().buffers['momentum']!.length).toBe(size);
  });
});
