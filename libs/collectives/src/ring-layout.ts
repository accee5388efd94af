/**
 * Cut of a flat buffer into segments and chunks, computed identically on every rank.
 *
 * Segment `s` of `segmentCount` covers elements `[floor(s * L / n), floor((s + 1) * L / n))`, so
 * segment lengths differ by at most one. Each segment is cut into chunks of `chunkElements`. An
 * empty segment still has one empty chunk, so every collective sends at least one message on every
 * link, and no rank completes a collective before all ranks have started it.
 */
export class RingLayout {
  /**
   * @param length - elements in the buffer
   * @param segmentCount - number of segments (the world size for all-reduce, 1 for broadcast)
   * @param chunkElements - maximum elements per chunk, at least 1
   */
  constructor(
    readonly length: number,
    readonly segmentCount: number,
    readonly chunkElements: number,
  ) {}

  segmentStart(segment: number): number {
    return Math.floor((segment * this.length) / this.segmentCount);
  }

  segmentEnd(segment: number): number {
    return this.segmentStart(segment + 1);
  }

  chunkCount(segment: number): number {
    const elements = this.segmentEnd(segment) - this.segmentStart(segment);
    return Math.max(1, Math.ceil(elements / this.chunkElements));
  }

  chunkOffset(segment: number, chunk: number): number {
    return this.segmentStart(segment) + chunk * this.chunkElements;
  }

  chunkLength(segment: number, chunk: number): number {
    const offset = this.chunkOffset(segment, chunk);
    return Math.max(0, Math.min(this.chunkElements, this.segmentEnd(segment) - offset));
  }
}

/** Returns `value` modulo `divisor` in `[0, divisor)`, also for negative values. */
export function positiveModulo(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}
