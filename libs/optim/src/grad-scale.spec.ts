import { describe, expect, it } from 'vitest';
import { AdamW } from './adamw.js';
import { Sgd } from './sgd.js';
import type { Optimizer } from './optimizer.js';

function randomArray(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out[i] = x / 2147483648 - 0.5;
  }
  return out;
}

/** Runs three steps on gradients scaled in the call and on gradients scaled beforehand. */
function compareScaled(make: () => Optimizer, scale: number): [Float32Array, Float32Array] {
  const fused = make();
  const separate = make();
  const a = randomArray(257, 1);
  const b = a.slice();
  for (let step = 0; step < 3; step++) {
    const grads = randomArray(257, 10 + step);
    fused.step(a, grads.slice(), undefined, scale);
    separate.step(b, grads.map((g) => g * scale), undefined);
  }
  return [a, b];
}

describe('gradScale', () => {
  const scale = 1 / 96;
  it('SGD with momentum matches pre-scaled gradients bitwise', () => {
    const [a, b] = compareScaled(() => new Sgd(257, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 }), scale);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });

  it('AdamW matches pre-scaled gradients bitwise', () => {
    const [a, b] = compareScaled(() => new AdamW(257, { lr: 1e-3, weightDecay: 0.1 }), scale);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });

  it('changes the update when it is not 1', () => {
    const [a] = compareScaled(() => new Sgd(257, { lr: 0.1, momentum: 0.9 }), 0.5);
    const [b] = compareScaled(() => new Sgd(257, { lr: 0.1, momentum: 0.9 }), 1);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(false);
  });
});
