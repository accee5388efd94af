import { describe, expect, it } from 'vitest';
import { broadcastShapes, normalizeAxis, productDim, ShapeError } from './shape.js';

describe('broadcastShapes', () => {
  it.each([
    [[[2, 3], [3]], [2, 3]],
    [[[2, 1], [1, 3]], [2, 3]],
    [[[4, 1, 5], [3, 1]], [4, 3, 5]],
    [[[], [2, 2]], [2, 2]],
    [[['batch', 10], [10]], ['batch', 10]],
    [[['batch', 1], [1, 10]], ['batch', 10]],
    [[['batch', 10], ['batch', 1]], ['batch', 10]],
  ])('should broadcast %j to %j', (shapes, expected) => {
    expect(broadcastShapes(...shapes)).toEqual(expected);
  });

  it('EXPECTED FAILURE - sizes 2 and 3 on one axis', () => {
    expect(() => broadcastShapes([2, 3], [3, 3])).toThrow(ShapeError);
    expect(() => broadcastShapes([2, 3], [3, 3])).toThrow(/\[2, 3\], \[3, 3\].*2 against 3/);
  });

  it('EXPECTED FAILURE - symbol against a size other than 1', () => {
    expect(() => broadcastShapes(['batch'], [4])).toThrow(/batch against 4|4 against batch/);
  });
});

describe('productDim', () => {
  it('should multiply sizes and keep a lone symbol', () => {
    expect(productDim([2, 3, 4])).toBe(24);
    expect(productDim(['batch', 1])).toBe('batch');
    expect(productDim([])).toBe(1);
  });

  it('EXPECTED FAILURE - symbol times a size', () => {
    expect(() => productDim(['batch', 3])).toThrow(ShapeError);
  });
});

describe('normalizeAxis', () => {
  it('should count negative axes from the end', () => {
    expect(normalizeAxis(-1, 3)).toBe(2);
    expect(normalizeAxis(0, 3)).toBe(0);
  });

  it('EXPECTED FAILURE - axis past the rank', () => {
    expect(() => normalizeAxis(3, 3)).toThrow(/axis 3 is out of range for rank 3/);
  });
});
