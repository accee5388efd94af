import { describe, expect, it } from 'vitest';

import { positiveModulo, RingLayout } from './ring-layout.js';

describe('RingLayout', () => {
  for (const [length, segments, chunk] of [
    [0, 3, 4],
    [2, 3, 4],
    [10, 4, 3],
    [1_048_581, 4, 65_536],
  ] as const) {
    it(`should cover ${length} elements with ${segments} segments of ${chunk}-element chunks`, () => {
      const layout = new RingLayout(length, segments, chunk);
      const covered = new Uint8Array(length);
      for (let segment = 0; segment < segments; segment++) {
        const size = layout.segmentEnd(segment) - layout.segmentStart(segment);
        expect(size).toBeGreaterThanOrEqual(Math.floor(length / segments));
        expect(size).toBeLessThanOrEqual(Math.ceil(length / segments));
        expect(layout.chunkCount(segment)).toBe(Math.max(1, Math.ceil(size / chunk)));
        for (let c = 0; c < layout.chunkCount(segment); c++) {
          const offset = layout.chunkOffset(segment, c);
          for (let i = 0; i < layout.chunkLength(segment, c); i++) covered[offset + i]! += 1;
        }
      }
      expect(covered.every((count) => count === 1)).toBe(true);
    });
  }
});

describe('positiveModulo', () => {
  it('should wrap negative values into [0, n)', () => {
    expect(positiveModulo(-1, 4)).toBe(3);
    expect(positiveModulo(-9, 4)).toBe(3);
    expect(positiveModulo(5, 4)).toBe(1);
  });
});
