import { describe, expect, it } from 'vitest';
import { AdamW, type AdamWOptions } from './adamw.js';
import { globalNorm } from './clip.js';
import { createOptimizer } from './create-optimizer.js';

interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/**
 * Straightforward float64 transcription of torch.optim.AdamW (amsgrad off). Step t reads its
 * gradients times `gradScales[t - 1]` (1 where not given).
 */
function referenceAdamW(
  params: ArrayLike<number>,
  gradsPerStep: ArrayLike<number>[],
  h: Hyper,
  decays: boolean[],
  gradScales: number[] = [],
): number[] {
  const p = Array.from(params);
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  let t = 0;
  for (const grads of gradsPerStep) {
    t++;
    const scale = gradScales[t - 1] ?? 1;
    for (let i = 0; i < p.length; i++) {
      const g = grads[i]! * scale;
      if (decays[i]) p[i] = p[i]! * (1 - h.lr * h.weightDecay);
      m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g;
      v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g * g;
      const mHat = m[i]! / (1 - h.beta1 ** t);
      const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - h.beta2 ** t) + h.eps;
      p[i] = p[i]! - (h.lr * mHat) / denom;
    }
  }
  return p;
}

function pseudoRandom(length: number, seed: number): number[] {
  let state = seed >>> 0;
  return Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

describe('AdamW', () => {
  const hypers: Hyper[] = [
    { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
    { lr: 3e-2, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 },
    { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0 },
  ];
  for (const h of hypers) {
    it(`matches float64 reference (lr ${h.lr}, betas ${h.beta1}/${h.beta2}, wd ${h.weightDecay})`, () => {
      const size = 12;
      const initial = pseudoRandom(size, 21);
      const grads = [22, 23, 24, 25, 26, 27, 28].map((seed) => pseudoRandom(size, seed));
      const decayMask = [
        { offset: 0, size: 2, decay: false },
        { offset: 8, size: 4, decay: false },
      ];
      const decays = initial.map((_, i) => i >= 2 && i < 8);
      const expected = referenceAdamW(initial, grads, h, decays);

      const params = Float32Array.from(initial);
      const adam = new AdamW(size, {
        lr: h.lr,
        betas: [h.beta1, h.beta2],
        eps: h.eps,
        weightDecay: h.weightDecay,
        decayMask,
      });
      for (const g of grads) adam.step(params, Float32Array.from(g));

      expect(adam.stepCount).toBe(7);
      for (let i = 0; i < size; i++) expect(params[i]).toBeCloseTo(expected[i]!, 6);
    });
  }

  it('first step is lr times the sign', () => {
    // With bias correction, step 1 is lr * g / (|g| + eps) = lr * sign(g).
    const params = Float32Array.of(0, 0, 0);
    new AdamW(3, { lr: 0.01, weightDecay: 0 }).step(params, Float32Array.of(2, -0.5, 1e-3));
    expect(params[0]).toBeCloseTo(-0.01, 7);
    expect(params[1]).toBeCloseTo(0.01, 7);
    expect(params[2]).toBeCloseTo(-0.01, 6);
  });

  it('continues bitwise after a state round trip', () => {
    const size = 100;
    const options = { lr: 1e-2, weightDecay: 0.05, decayMask: [{ offset: 90, size: 10, decay: false }] };
    const grads = [31, 32, 33, 34, 35, 36].map((seed) => Float32Array.from(pseudoRandom(size, seed)));
    const straight = Float32Array.from(pseudoRandom(size, 30));
    const resumed = straight.slice();

    const first = new AdamW(size, options);
    for (const g of grads) first.step(straight, g);

    const before = new AdamW(size, options);
    for (const g of grads.slice(0, 2)) before.step(resumed, g);
    const state = before.exportState();
    const after = new AdamW(size, options);
    after.importState(state);
    for (const g of grads.slice(2)) after.step(resumed, g);

    expect(after.stepCount).toBe(6);
    expect(Buffer.from(resumed.buffer)).toEqual(Buffer.from(straight.buffer));
  });

  it('BAD CALL - beta outside [0, 1)', () => {
    expect(() => new AdamW(4, { lr: 1e-3, betas: [0.9, 1] })).toThrow(/betas\[1\] must be in \[0, 1\)/);
  });

  it('BAD CALL - overlapping decay ranges', () => {
    const decayMask = [
      { offset: 0, size: 3, decay: false },
      { offset: 2, size: 2, decay: true },
    ];
    expect(() => new AdamW(4, { lr: 1e-3, decayMask })).toThrow(/overlaps/);
  });

  it('BAD CALL - decay range past the buffer', () => {
    const decayMask = [{ offset: 2, size: 3, decay: false }];
    expect(() => new AdamW(4, { lr: 1e-3, decayMask })).toThrow(/ends at 5, past the end of the 4-element/);
  });
});

/**
 * Gradient scale of one training step as the worker computes it: 1 / count times the coefficient
 * of torch.nn.utils.clip_grad_norm_ for the mean gradient, applied when it is below 1.
 */
function workerGradScale(summedGrads: Float32Array, count: number, clipNorm: number): number {
  let scale = 1 / count;
  const coefficient = clipNorm / (globalNorm(summedGrads) * scale + 1e-6);
  if (coefficient < 1) scale *= coefficient;
  return scale;
}

/** Largest `|actual - expected|` over the largest `|expected|`, the normwise relative error. */
function normwiseError(actual: Float32Array, expected: number[]): number {
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return error / scale;
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('AdamW with the kernel', () => {
  const size = 1031;
  // Exempt ranges with ends that are not multiples of 4, as biases and norms between weight matrices give.
  const decayMask = [
    { offset: 0, size: 7, decay: false },
    { offset: 501, size: 130, decay: false },
    { offset: 1030, size: 1, decay: false },
  ];
  const decays = Array.from({ length: size }, (_, i) => !(i < 7 || (i >= 501 && i < 631) || i === 1030));
  const count = 96;
  // Gradients summed over `count` samples. Even steps have a mean-gradient norm near 9 and are
  // clipped to 0.5, odd steps have one near 0.09 and are not.
  const summedGrads = Array.from({ length: 20 }, (_, step) =>
    Float32Array.from(pseudoRandom(size, 71 + step), (g) => g * count * (step % 2 === 0 ? 1 : 0.01)),
  );
  const scales = summedGrads.map((g) => workerGradScale(g, count, 0.5));

  it('clips the even steps of the test data', () => {
    expect(scales.filter((scale) => scale < 1 / count).length).toBe(10);
    expect(scales.filter((scale) => scale === 1 / count).length).toBe(10);
  });

  for (const weightDecay of [0.1, 0]) {
    it(`matches float64 reference over 20 steps, wd ${weightDecay}`, () => {
      const h = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay };
      const initial = Float32Array.from(pseudoRandom(size, 70));
      const adam = new AdamW(size, { lr: h.lr, betas: [h.beta1, h.beta2], eps: h.eps, weightDecay, decayMask });
      const params = adam.parameterBuffer!;
      expect(params).toBeDefined();
      params.set(initial);
      for (const [step, g] of summedGrads.entries()) adam.step(params, g, undefined, scales[step]);

      const expected = referenceAdamW(initial, summedGrads, h, decays, scales);
      // Each step rounds p to float32 once, or twice with weight decay, so the error grows to a few
      // ulps of the largest parameter: 7e-7 with weight decay and 3e-7 without on this data.
      expect(normwiseError(params, expected)).toBeLessThan(1e-6);
      expect(adam.stepCount).toBe(20);
    });
  }

  it('equals the scalar fallback bitwise', () => {
    const options: AdamWOptions = { lr: 1e-2, betas: [0.8, 0.95], weightDecay: 0.05, decayMask };
    const fast = new AdamW(size, options);
    const slow = new AdamW(size, { ...options, scalar: true });
    expect(fast.parameterBuffer).toBeDefined();
    expect(slow.parameterBuffer).toBeUndefined();
    const a = Float32Array.from(pseudoRandom(size, 80));
    const b = a.slice();
    for (const [step, g] of summedGrads.entries()) {
      fast.step(a, g, 1e-2 * (1 - step / 40), scales[step]);
      slow.step(b, g, 1e-2 * (1 - step / 40), scales[step]);
    }
    expect(bits(a).equals(bits(b))).toBe(true);
    const fastState = fast.exportState();
    const slowState = slow.exportState();
    expect(bits(fastState.buffers['expAvg']!).equals(bits(slowState.buffers['expAvg']!))).toBe(true);
    expect(bits(fastState.buffers['expAvgSq']!).equals(bits(slowState.buffers['expAvgSq']!))).toBe(true);
  });

  it('trains in parameterBuffer as on a separate array', () => {
    const inPlace = new AdamW(size, { lr: 1e-2, decayMask });
    const copied = new AdamW(size, { lr: 1e-2, decayMask });
    const own = inPlace.parameterBuffer!;
    own.set(pseudoRandom(size, 81));
    const separate = own.slice();
    for (const [step, g] of summedGrads.slice(0, 5).entries()) {
      inPlace.step(own, g, undefined, scales[step]);
      copied.step(separate, g, undefined, scales[step]);
    }
    expect(bits(own).equals(bits(separate))).toBe(true);
  });

  it('resumes bitwise from fallback state', () => {
    const options: AdamWOptions = { lr: 1e-2, weightDecay: 0.1, decayMask };
    const straight = Float32Array.from(pseudoRandom(size, 82));
    const resumed = straight.slice();
    const whole = new AdamW(size, { ...options, scalar: true });
    for (const [step, g] of summedGrads.slice(0, 6).entries()) whole.step(straight, g, undefined, scales[step]);

    const before = new AdamW(size, { ...options, scalar: true });
    for (const [step, g] of summedGrads.slice(0, 3).entries()) before.step(resumed, g, undefined, scales[step]);
    const state = before.exportState();
    expect(Object.keys(state.buffers).sort()).toEqual(['expAvg', 'expAvgSq']);
    const after = new AdamW(size, options);
    expect(after.parameterBuffer).toBeDefined();
    after.importState(state);
    for (const [step, g] of summedGrads.slice(3, 6).entries()) after.step(resumed, g, undefined, scales[step + 3]);

    expect(after.stepCount).toBe(6);
    expect(bits(resumed).equals(bits(straight))).toBe(true);
  });
});

describe('createOptimizer', () => {
  it('builds the named optimiser', () => {
    expect(createOptimizer(3, { name: 'sgd', lr: 0.1, momentum: 0.9 }).name).toBe('sgd');
    expect(createOptimizer(3, { name: 'adamw', lr: 0.1, betas: [0.9, 0.95] }).name).toBe('adamw');
  });

  it('BAD CALL - unknown name', () => {
    expect(() => createOptimizer(3, { name: 'lamb', lr: 0.1 })).toThrow(/unknown optim.name "lamb"/);
  });
});
