import { checkRank, splitEvenly, type IndexRange } from './partition.js';

/**
 * Returns the samples `[start, end)` of an evaluation set that `rank` scores. The set is cut into
 * `worldSize` contiguous, disjoint ranges whose sizes differ by at most one. Summing per-rank
 * counts and losses over all ranks therefore counts every sample exactly once. A rank gets an
 * empty range when there are fewer samples than ranks.
 *
 * @throws RangeError on a negative count or an invalid rank
 */
export function evalShard(count: number, worldSize: number, rank: number): IndexRange {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`evaluation sample count must be an integer >= 0, got ${count}`);
  }
  checkRank(worldSize, rank);
  return splitEvenly(count, worldSize, rank);
}
