import { describe, expect, it } from 'vitest';
import { AdamWKernel, adamWStepScalars, updateAdamWScalar, type AdamWArrays } from './adamw-kernel.js';
import { buildDecaySegments } from './decay-mask.js';

/** Returns a small LCG of floats in [0, 1). The values only need to differ between elements and steps. */
function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * Fills `out` with signed values whose magnitudes span 2^-30 to 2^4, and every 17th element
 * zero, so the lanes see tiny, large and zero operands.
 */
function fillWide(out: Float32Array, seed: number, signed = true): void {
  const next = uniform(seed);
  for (let i = 0; i < out.length; i++) {
    const magnitude = 2 ** Math.floor(next() * 35 - 30);
    const value = signed ? next() - 0.5 : next();
    out[i] = i % 17 === 5 ? 0 : value * magnitude;
  }
}

function prepared(kernel: AdamWArrays, seed: number): void {
  const next = uniform(seed);
  for (let i = 0; i < kernel.params.length; i++) kernel.params[i] = 2 * next() - 1;
  fillWide(kernel.grads, seed + 1);
  fillWide(kernel.expAvg, seed + 2);
  fillWide(kernel.expAvgSq, seed + 3, false);
}

/** Plain Float32Array copies of the kernel's arrays, outside WebAssembly memory. */
function copyArrays(kernel: AdamWArrays): AdamWArrays {
  return {
    params: kernel.params.slice(),
    grads: kernel.grads.slice(),
    expAvg: kernel.expAvg.slice(),
    expAvgSq: kernel.expAvgSq.slice(),
  };
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Hyperparameters of steps 1-3. The first two gradient scales are not exact in float32, on purpose. */
const steps = [
  { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradScale: 0.73 / 96 },
  { lr: 3e-2, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1, gradScale: 1 / 3 },
  { lr: 7e-4, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.05, gradScale: 1 },
];

describe('AdamWKernel', () => {
  it('is available on this runtime', () => {
    expect(AdamWKernel.create(10)).toBeDefined();
  });

  for (const size of [0, 1, 3, 4, 5, 1_000_003]) {
    it(`SIMD lanes equal the scalar path bitwise, ${size} elements`, () => {
      const kernel = AdamWKernel.create(size)!;
      prepared(kernel, 40);
      const scalar = copyArrays(kernel);
      // An exempt range with unaligned ends between two decayed ones: for 1,000,003 elements the
      // boundaries are 333,335 and 666,670, which are 3 and 2 mod 4.
      const start = Math.min(size, Math.floor(size / 3) + 1);
      const end = Math.min(size, Math.floor((2 * size) / 3) + 2);
      const segments = buildDecaySegments(size, [{ offset: start, size: end - start, decay: false }]);
      for (const [index, hyper] of steps.entries()) {
        for (const segment of segments) {
          const scalars = adamWStepScalars({ ...hyper, step: index + 1, decay: segment.decay });
          kernel.update(segment.start, segment.end, scalars);
          updateAdamWScalar(scalar, segment.start, segment.end, scalars);
        }
      }
      expect(bits(kernel.params).equals(bits(scalar.params))).toBe(true);
      expect(bits(kernel.expAvg).equals(bits(scalar.expAvg))).toBe(true);
      expect(bits(kernel.expAvgSq).equals(bits(scalar.expAvgSq))).toBe(true);
      expect(bits(kernel.grads).equals(bits(scalar.grads))).toBe(true);
    });
  }

  it('leaves elements outside the range untouched', () => {
    const kernel = AdamWKernel.create(1003)!;
    prepared(kernel, 50);
    const before = copyArrays(kernel);
    kernel.update(3, 1001, adamWStepScalars({ ...steps[0]!, step: 1, decay: true }));
    for (const i of [0, 1, 2, 1001, 1002]) {
      expect(kernel.params[i]).toBe(before.params[i]);
      expect(kernel.expAvg[i]).toBe(before.expAvg[i]);
      expect(kernel.expAvgSq[i]).toBe(before.expAvgSq[i]);
    }
    expect(kernel.params[3]).not.toBe(before.params[3]);
    expect(kernel.params[1000]).not.toBe(before.params[1000]);
  });

  it('scales gradients in float64 before rounding', () => {
    // 1/96 is not exact in float32, so rounding the scale first would change some products.
    const kernel = AdamWKernel.create(4096)!;
    prepared(kernel, 60);
    const grads = kernel.grads.slice();
    const gradScale = 1 / 96;
    kernel.update(0, 4096, adamWStepScalars({ ...steps[0]!, gradScale, beta1: 0, step: 1, decay: false }));
    // With beta1 = 0, expAvg is (1 - 0) * g = g, the scaled gradient itself.
    const expected = grads.map((g) => g * gradScale);
    expect(bits(kernel.expAvg).equals(bits(expected))).toBe(true);
  });

  it('decay factor is 1 on exempt segments', () => {
    const scalars = adamWStepScalars({ ...steps[1]!, step: 1, decay: false });
    expect(scalars.decayFactor).toBe(1);
    expect(adamWStepScalars({ ...steps[1]!, step: 1, decay: true }).decayFactor).toBe(Math.fround(1 - 3e-2 * 0.1));
  });
});
