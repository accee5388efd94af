/** A contiguous range `[start, end)`. */
export interface IndexRange {
  start: number;
  end: number;
}

/**
 * Returns part `index` of `total` items cut into `parts` contiguous ranges whose sizes differ by at
 * most one. The first `total % parts` ranges get one extra item, so with `total < parts` the
 * last ranges are empty.
 */
export function splitEvenly(total: number, parts: number, index: number): IndexRange {
  const base = Math.floor(total / parts);
  const extra = total % parts;
  const start = index * base + Math.min(index, extra);
  return { start, end: start + base + (index < extra ? 1 : 0) };
}

/** Throws unless `worldSize` is a positive integer and `rank` an integer in `[0, worldSize)`. */
export function checkRank(worldSize: number, rank: number): void {
  if (!Number.isInteger(worldSize) || worldSize < 1) {
    throw new RangeError(`world size must be an integer >= 1, got ${worldSize}`);
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new RangeError(`rank must be an integer in [0, ${worldSize}), got ${rank}`);
  }
}
