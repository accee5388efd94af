import { describe, expect, it } from 'vitest';
import { AdamW } from './adamw.js';
import { createOptimizer } from './create-optimizer.js';

interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** Straightforward float64 transcription of torch.optim.AdamW (amsgrad off). */
function referenceAdamW(
  params: number[],
  gradsPerStep: number[][],
  h: Hyper,
  decays: boolean[],
): number[] {
  const p = [...params];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  let t = 0;
  for (const grads of gradsPerStep) {
    t++;
    for (let i = 0; i < p.length; i++) {
      const g = grads[i]!;
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

describe('createOptimizer', () => {
  it('builds the named optimiser', () => {
    expect(createOptimizer(3, { name: 'sgd', lr: 0.1, momentum: 0.9 }).name).toBe('sgd');
    expect(createOptimizer(3, { name: 'adamw', lr: 0.1, betas: [0.9, 0.95] }).name).toBe('adamw');
  });

  it('BAD CALL - unknown name', () => {
    expect(() => createOptimizer(3, { name: 'lamb', lr: 0.1 })).toThrow(/unknown optim.name "lamb"/);
  });
});
