/** A range of the flat parameter buffer and whether weight decay applies to it. */
export interface DecayRange {
  /** First element of the range in the flat buffer. */
  offset: number;
  /** Number of elements in the range. */
  size: number;
  /** Whether weight decay applies to the elements of the range. */
  decay: boolean;
}

/**
 * Contiguous run of the flat buffer with one weight-decay setting. The runs of a mask cover
 * `[0, length)` in order, so an optimiser step walks them once with no per-element lookup.
 */
export interface DecaySegment {
  start: number;
  end: number;
  decay: boolean;
}

/**
 * Converts a weight-decay mask into sorted segments that cover the whole buffer. Elements that no
 * range lists get weight decay, so a mask only needs to name the exempt ranges (biases, norms).
 *
 * @param length - number of parameters in the flat buffer
 * @param ranges - ranges of the buffer with their decay setting; order does not matter
 * @throws RangeError when a range is not inside `[0, length)`, has a non-integer offset or size,
 *   or overlaps another range
 */
export function buildDecaySegments(
  length: number,
  ranges: readonly DecayRange[] = [],
): DecaySegment[] {
  const sorted = [...ranges].sort((a, b) => a.offset - b.offset);
  const segments: DecaySegment[] = [];
  let cursor = 0;
  for (const range of sorted) {
    const { offset, size } = range;
    if (!Number.isInteger(offset) || !Number.isInteger(size) || offset < 0 || size < 0) {
      throw new RangeError(
        `invalid weight-decay range {offset: ${offset}, size: ${size}}: ` +
          'offset and size must be non-negative integers',
      );
    }
    if (offset + size > length) {
      throw new RangeError(
        `weight-decay range {offset: ${offset}, size: ${size}} ends at ${offset + size}, ` +
          `past the end of the ${length}-element parameter buffer`,
      );
    }
    if (offset < cursor) {
      throw new RangeError(
        `weight-decay range {offset: ${offset}, size: ${size}} overlaps the range that ends at ` +
          `${cursor}; each parameter may appear in at most one range`,
      );
    }
    if (offset > cursor) segments.push({ start: cursor, end: offset, decay: true });
    if (size > 0) segments.push({ start: offset, end: offset + size, decay: range.decay });
    cursor = offset + size;
  }
  if (cursor < length) segments.push({ start: cursor, end: length, decay: true });
  return segments;
}
