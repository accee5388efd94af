import { describe, expect, it } from 'vitest';
import { DistributedSampler, type DistributedSamplerOptions } from './sampler.js';

type Shared = Omit<DistributedSamplerOptions, 'worldSize' | 'rank'>;

function ranks(shared: Shared, worldSize: number): DistributedSampler[] {
  return Array.from({ length: worldSize }, (_, rank) => new DistributedSampler({ ...shared, worldSize, rank }));
}

/** Concatenates the rank batches of one step in rank order. */
function union(samplers: DistributedSampler[], epoch: number, step: number): number[] {
  return samplers.flatMap((s) => Array.from(s.rankBatch(epoch, step).sampleIds));
}

describe('DistributedSampler', () => {
  // 12 is divisible by every world size from 1 to 4; 1000 = 83 * 12 + 4 leaves a tail of 4.
  const shared: Shared = { datasetSize: 1000, globalBatchSize: 12, seed: 1234 };

  for (const worldSize of [1, 2, 3, 4]) {
    it(`world size ${worldSize}: disjoint shards that cover the data set once per epoch`, () => {
      const samplers = ranks(shared, worldSize);
      expect(samplers[0]!.stepsPerEpoch).toBe(84);
      const seen = new Uint8Array(shared.datasetSize);
      for (let step = 0; step < samplers[0]!.stepsPerEpoch; step++) {
        for (const id of union(samplers, 0, step)) seen[id]!++;
      }
      expect(seen.every((count) => count === 1)).toBe(true);
    });

    it(`world size ${worldSize}: union equals single-process batch`, () => {
      const single = new DistributedSampler({ ...shared, worldSize: 1, rank: 0 });
      const samplers = ranks(shared, worldSize);
      for (const [epoch, step] of [[0, 0], [0, 41], [3, 7], [3, 83]] as const) {
        const expected = Array.from(single.globalBatch(epoch, step));
        expect(union(samplers, epoch, step)).toEqual(expected);
        expect(Array.from(samplers[worldSize - 1]!.globalBatch(epoch, step))).toEqual(expected);
      }
    });

    it(`world size ${worldSize}: positions locate each sample in the global batch`, () => {
      for (const sampler of ranks(shared, worldSize)) {
        const global = sampler.globalBatch(2, 5);
        const batch = sampler.rankBatch(2, 5);
        expect(batch.sampleIds.length).toBe(12 / worldSize);
        expect(batch.globalBatchSize).toBe(12);
        expect(batch.globalOffset).toBe(sampler.rank * (12 / worldSize));
        batch.sampleIds.forEach((id, i) => expect(global[batch.positions[i]!]).toBe(id));
      }
    });
  }

  it('reshuffles between epochs', () => {
    const sampler = new DistributedSampler({ ...shared, worldSize: 1, rank: 0 });
    const epoch0 = Array.from(sampler.epochPermutation(0));
    const epoch1 = Array.from(sampler.epochPermutation(1));
    expect(epoch1).not.toEqual(epoch0);
    expect([...epoch1].sort((a, b) => a - b)).toEqual([...epoch0].sort((a, b) => a - b));
  });

  it('depends on the seed', () => {
    const a = new DistributedSampler({ ...shared, worldSize: 1, rank: 0 });
    const b = new DistributedSampler({ ...shared, seed: 1235, worldSize: 1, rank: 0 });
    expect(Array.from(a.globalBatch(0, 0))).not.toEqual(Array.from(b.globalBatch(0, 0)));
  });

  it('is a pure function of (seed, epoch, world size, rank)', () => {
    const options = { ...shared, worldSize: 3, rank: 1 };
    const fresh = new DistributedSampler(options).rankBatch(5, 10);
    const reused = new DistributedSampler(options);
    reused.rankBatch(2, 3);
    reused.rankBatch(7, 0);
    expect(reused.rankBatch(5, 10)).toEqual(fresh);
  });

  it('splits a short last batch as evenly as possible', () => {
    // 1000 - 83 * 12 = 4 samples over 3 ranks: 2, 1, 1.
    const samplers = ranks(shared, 3);
    const sizes = samplers.map((s) => s.rankBatch(0, 83).sampleIds.length);
    expect(sizes).toEqual([2, 1, 1]);
    expect(samplers.map((s) => s.rankBatch(0, 83).globalOffset)).toEqual([0, 2, 3]);
    expect(samplers[2]!.rankBatch(0, 83).globalBatchSize).toBe(4);
  });

  it('tail smaller than world size', () => {
    // 998 - 83 * 12 = 2 samples over 4 ranks: 1, 1, 0, 0.
    const samplers = ranks({ ...shared, datasetSize: 998 }, 4);
    const batches = samplers.map((s) => s.rankBatch(1, 83));
    expect(batches.map((b) => b.sampleIds.length)).toEqual([1, 1, 0, 0]);
    expect(batches[3]!.positions.length).toBe(0);
    expect(batches[3]!.globalBatchSize).toBe(2);
  });

  it('dropLast skips the short last batch', () => {
    const samplers = ranks({ ...shared, dropLast: true }, 4);
    expect(samplers[0]!.stepsPerEpoch).toBe(83);
    expect(() => samplers[0]!.rankBatch(0, 83)).toThrow(/step in epoch must be an integer in \[0, 83\), got 83/);
    const seen = new Set<number>();
    for (let step = 0; step < 83; step++) for (const id of union(samplers, 0, step)) seen.add(id);
    expect(seen.size).toBe(996);
  });

  it('locates a global step in its epoch', () => {
    const sampler = new DistributedSampler({ ...shared, worldSize: 2, rank: 0 });
    expect(sampler.locate(0)).toEqual({ epoch: 0, stepInEpoch: 0 });
    expect(sampler.locate(83)).toEqual({ epoch: 0, stepInEpoch: 83 });
    expect(sampler.locate(84)).toEqual({ epoch: 1, stepInEpoch: 0 });
    expect(sampler.locate(200)).toEqual({ epoch: 2, stepInEpoch: 32 });
  });

  it('BAD CALL - world size that does not divide the global batch', () => {
    expect(() => new DistributedSampler({ ...shared, globalBatchSize: 100, worldSize: 3, rank: 0 })).toThrow(
      /global batch size 100 is not divisible by world size 3/,
    );
  });

  it('BAD CALL - rank outside the world', () => {
    expect(() => new DistributedSampler({ ...shared, worldSize: 2, rank: 2 })).toThrow(/rank must be an integer in \[0, 2\), got 2/);
  });

  it('BAD CALL - dropLast with a batch larger than the data set', () => {
    expect(
      () => new DistributedSampler({ datasetSize: 10, globalBatchSize: 12, seed: 0, worldSize: 1, rank: 0, dropLast: true }),
    ).toThrow(/leaves no step per epoch/);
  });
});
