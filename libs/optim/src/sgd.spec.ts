import { describe, expect, it } from 'vitest';
import { Sgd, type SgdOptions } from './sgd.js';

/** Straightforward float64 transcription of torch.optim.SGD (dampening 0) for a few steps. */
function referenceSgd(
  params: number[],
  gradsPerStep: number[][],
  options: Required<Omit<SgdOptions, 'decayMask' | 'scalar'>>,
  decays: boolean[],
): number[] {
  const p = [...params];
  const buf: (number | undefined)[] = p.map(() => undefined);
  for (const grads of gradsPerStep) {
    for (let i = 0; i < p.length; i++) {
      let d = grads[i]!;
      if (decays[i] && options.weightDecay !== 0) d = d + options.weightDecay * p[i]!;
      if (options.momentum !== 0) {
        buf[i] = buf[i] === undefined ? d : options.momentum * buf[i]! + d;
        d = options.nesterov ? d + options.momentum * buf[i]! : buf[i]!;
      }
      p[i] = p[i]! - options.lr * d;
    }
  }
  return p;
}

function pseudoRandom(length: number, seed: number): number[] {
  // Small LCG: the values only need to differ between elements and steps.
  let state = seed >>> 0;
  return Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

describe('Sgd', () => {
  const cases: Required<Omit<SgdOptions, 'decayMask' | 'scalar'>>[] = [
    { lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0 },
    { lr: 0.05, momentum: 0.9, nesterov: false, weightDecay: 0 },
    { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-2 },
    { lr: 0.2, momentum: 0.5, nesterov: false, weightDecay: 5e-2 },
  ];
  for (const options of cases) {
    it(`matches float64 reference (momentum ${options.momentum}, nesterov ${options.nesterov}, wd ${options.weightDecay})`, () => {
      const size = 10;
      const initial = pseudoRandom(size, 1);
      const grads = [2, 3, 4, 5, 6].map((seed) => pseudoRandom(size, seed));
      // Elements 3..5 are exempt from weight decay.
      const decayMask = [{ offset: 3, size: 3, decay: false }];
      const decays = initial.map((_, i) => i < 3 || i >= 6);
      const expected = referenceSgd(initial, grads, options, decays);

      const params = Float32Array.from(initial);
      const sgd = new Sgd(size, { ...options, decayMask });
      for (const g of grads) sgd.step(params, Float32Array.from(g));

      expect(sgd.stepCount).toBe(5);
      for (let i = 0; i < size; i++) expect(params[i]).toBeCloseTo(expected[i]!, 6);
    });
  }

  it('uses the lr passed to step over the option', () => {
    const params = Float32Array.of(1);
    new Sgd(1, { lr: 100 }).step(params, Float32Array.of(1), 0.5);
    expect(params[0]).toBe(0.5);
  });

  it('continues bitwise after a state round trip', () => {
    const size = 64;
    const options = { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 };
    const grads = [7, 8, 9, 10, 11, 12].map((seed) => Float32Array.from(pseudoRandom(size, seed)));
    const straight = Float32Array.from(pseudoRandom(size, 3));
    const resumed = straight.slice();

    const first = new Sgd(size, options);
    for (const g of grads) first.step(straight, g);

    const before = new Sgd(size, options);
    for (const g of grads.slice(0, 3)) before.step(resumed, g);
    const state = before.exportState();
    before.step(resumed.slice(), grads[3]!); // must not change the exported copy
    const after = new Sgd(size, options);
    after.importState(state);
    expect(after.stepCount).toBe(3);
    for (const g of grads.slice(3)) after.step(resumed, g);

    expect(Buffer.from(resumed.buffer)).toEqual(Buffer.from(straight.buffer));
  });

  it('BAD CALL - nesterov without momentum', () => {
    expect(() => new Sgd(4, { lr: 0.1, nesterov: true })).toThrow(/nesterov requires momentum/);
  });

  it('BAD CALL - buffers of the wrong size', () => {
    const sgd = new Sgd(4, { lr: 0.1 });
    expect(() => sgd.step(new Float32Array(4), new Float32Array(3))).toThrow(/4 elements/);
  });

  it('BAD CALL - state from another optimiser', () => {
    const sgd = new Sgd(4, { lr: 0.1, momentum: 0.9 });
    const state = { name: 'adamw', step: 1, buffers: {} };
    expect(() => sgd.importState(state)).toThrow(/adamw optimiser state into a sgd/);
  });

  it('BAD CALL - state buffer of the wrong length', () => {
    const sgd = new Sgd(4, { lr: 0.1, momentum: 0.9 });
    const state = { name: 'sgd', step: 1, buffers: { momentum: new Float32Array(3) } };
    expect(() => sgd.importState(state)).toThrow(/momentum must be a Float32Array of 4/);
  });
});
