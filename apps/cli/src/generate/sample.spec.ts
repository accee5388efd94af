import { Philox } from '@ringtrain/random';
import { describe, expect, it } from 'vitest';
import { argmax, sampleToken, tokenProbabilities } from './sample.js';

/** Softmax computed independently of sample.ts, over the ids in `keptIds` only. */
function referenceSoftmax(logits: number[], temperature: number, keptIds: number[]): number[] {
  const weights = logits.map((logit, id) => (keptIds.includes(id) ? Math.exp(logit / temperature) : 0));
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
}

describe('argmax', () => {
  it('returns the largest logit', () => {
    expect(argmax([0.5, -1, 3, 2])).toBe(2);
  });

  it('breaks ties toward the lower id', () => {
    expect(argmax([1, 4, 4, 0])).toBe(1);
  });

  it('skips -Infinity', () => {
    expect(argmax([-Infinity, -5, -Infinity])).toBe(1);
  });
});

describe('tokenProbabilities', () => {
  it('matches the softmax of logits over temperature', () => {
    const logits = [1, 2, 0.5, -1];
    const probabilities = tokenProbabilities(logits, { temperature: 0.7 });
    const expected = referenceSoftmax(logits, 0.7, [0, 1, 2, 3]);
    expected.forEach((p, id) => expect(probabilities[id]).toBeCloseTo(p, 12));
  });

  it('keeps only the top k', () => {
    const probabilities = tokenProbabilities([1, 3, 2, 0], { temperature: 1, topK: 2 });
    const expected = referenceSoftmax([1, 3, 2, 0], 1, [1, 2]);
    expect(probabilities[0]).toBe(0);
    expect(probabilities[3]).toBe(0);
    expect(probabilities[1]).toBeCloseTo(expected[1]!, 12);
    expect(probabilities[2]).toBeCloseTo(expected[2]!, 12);
  });

  it('keeps lower ids among ties at the top-k boundary', () => {
    const probabilities = tokenProbabilities([2, 1, 2, 2], { temperature: 1, topK: 2 });
    expect(Array.from(probabilities)).toEqual([0.5, 0, 0.5, 0]);
  });

  it('treats top-k above the vocabulary size as the whole vocabulary', () => {
    const logits = [0.1, 0.2, 0.3];
    expect(tokenProbabilities(logits, { temperature: 1, topK: 50 })).toEqual(tokenProbabilities(logits, { temperature: 1 }));
  });

  it('puts all mass on the argmax at temperature 0', () => {
    expect(Array.from(tokenProbabilities([0, 5, 1], { temperature: 0, topK: 3 }))).toEqual([0, 1, 0]);
  });

  it('stays finite for a tiny temperature', () => {
    const probabilities = tokenProbabilities([1000, 999, -1000], { temperature: 1e-300 });
    expect(Array.from(probabilities)).toEqual([1, 0, 0]);
  });

  it('gives -Infinity logits probability 0', () => {
    const probabilities = tokenProbabilities([0, -Infinity, 0], { temperature: 1 });
    expect(Array.from(probabilities)).toEqual([0.5, 0, 0.5]);
  });

  it('BAD CALL - rejects NaN and +Infinity logits', () => {
    expect(() => tokenProbabilities([0, NaN], { temperature: 1 })).toThrow(/logit of token id 1 is NaN/);
    expect(() => tokenProbabilities([Infinity, 0], { temperature: 1 })).toThrow(/logit of token id 0 is Infinity/);
  });

  it('BAD CALL - rejects logits that are all -Infinity', () => {
    expect(() => tokenProbabilities([-Infinity, -Infinity], { temperature: 1 })).toThrow(/every logit is -Infinity/);
  });

  it('BAD CALL - rejects an invalid temperature or top-k', () => {
    expect(() => tokenProbabilities([0, 1], { temperature: -0.5 })).toThrow(/temperature must be a finite number >= 0, got -0.5/);
    expect(() => tokenProbabilities([0, 1], { temperature: NaN })).toThrow(/temperature must be/);
    expect(() => tokenProbabilities([0, 1], { temperature: 1, topK: 0 })).toThrow(/topK must be an integer >= 1, got 0/);
    expect(() => tokenProbabilities([0, 1], { temperature: 1, topK: 1.5 })).toThrow(/topK must be an integer >= 1, got 1.5/);
  });
});

describe('sampleToken', () => {
  it('walks the cumulative probabilities in id order', () => {
    // Probabilities are [0.25, 0.25, 0.25, 0.25].
    const logits = [0, 0, 0, 0];
    expect(sampleToken(logits, { temperature: 1 }, 0)).toBe(0);
    expect(sampleToken(logits, { temperature: 1 }, 0.24)).toBe(0);
    expect(sampleToken(logits, { temperature: 1 }, 0.26)).toBe(1);
    expect(sampleToken(logits, { temperature: 1 }, 0.74)).toBe(2);
    expect(sampleToken(logits, { temperature: 1 }, 1 - 2 ** -53)).toBe(3);
  });

  it('never returns an id outside the top k', () => {
    const logits = [5, 0, 4, 0];
    expect(sampleToken(logits, { temperature: 1, topK: 2 }, 1 - 2 ** -53)).toBe(2);
  });

  it('equals argmax at temperature 0 and at top-k 1', () => {
    const rng = new Philox(11);
    const logits = [0.3, 1.7, -0.2, 1.69, 0.9];
    for (let i = 0; i < 100; i++) {
      const uniform = rng.uniform53(i);
      expect(sampleToken(logits, { temperature: 0 }, uniform)).toBe(1);
      expect(sampleToken(logits, { temperature: 1.5, topK: 1 }, uniform)).toBe(1);
    }
  });

  it('draws with the softmax frequencies', () => {
    const logits = [1, 2, 0.5, -1, 2.5, -3];
    const temperature = 0.8;
    const topK = 4;
    const expected = referenceSoftmax(logits, temperature, [0, 1, 2, 4]);
    const draws = 40_000;
    const counts = new Array<number>(logits.length).fill(0);
    const rng = new Philox(2024);
    for (let i = 0; i < draws; i++) counts[sampleToken(logits, { temperature, topK }, rng.uniform53(i))]!++;

    for (const [id, p] of expected.entries()) {
      const frequency = counts[id]! / draws;
      if (p === 0) {
        expect(counts[id], `id ${id} is outside the top k`).toBe(0);
        continue;
      }
      // Five standard errors of a binomial frequency. By the normal approximation, a correct
      // sampler fails each of these checks with a probability of about 6e-7.
      const tolerance = 5 * Math.sqrt((p * (1 - p)) / draws);
      expect(Math.abs(frequency - p), `id ${id}: frequency ${frequency}, probability ${p}`).toBeLessThan(tolerance);
    }
  });

  it('BAD CALL - rejects a uniform outside [0, 1)', () => {
    expect(() => sampleToken([0, 1], { temperature: 1 }, 1)).toThrow(/uniform must be in \[0, 1\), got 1/);
    expect(() => sampleToken([0, 1], { temperature: 1 }, -0.1)).toThrow(/uniform must be in \[0, 1\)/);
  });
});
