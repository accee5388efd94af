import { describe, expect, it } from 'vitest';
import { evalShard } from './eval-shard.js';

describe('evalShard', () => {
  for (const count of [10_000, 7, 2, 0]) {
    for (const worldSize of [1, 2, 3, 4, 7]) {
      it(`${count} samples over ${worldSize} ranks: contiguous, disjoint, complete`, () => {
        const shards = Array.from({ length: worldSize }, (_, rank) => evalShard(count, worldSize, rank));
        expect(shards[0]!.start).toBe(0);
        expect(shards[worldSize - 1]!.end).toBe(count);
        for (let rank = 1; rank < worldSize; rank++) expect(shards[rank]!.start).toBe(shards[rank - 1]!.end);
        const sizes = shards.map((s) => s.end - s.start);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      });
    }
  }

  it('10000 samples over 3 ranks: 3334, 3333, 3333', () => {
    expect([0, 1, 2].map((rank) => evalShard(10_000, 3, rank))).toEqual([
      { start: 0, end: 3334 },
      { start: 3334, end: 6667 },
      { start: 6667, end: 10_000 },
    ]);
  });

  it('BAD CALL - negative count', () => {
    expect(() => evalShard(-1, 2, 0)).toThrow(/sample count must be an integer >= 0, got -1/);
  });
});
