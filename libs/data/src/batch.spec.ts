import { describe, expect, it } from 'vitest';
import { fillImageBatch, fillLabelBatch, type ImageSet } from './batch.js';

/** Builds `count` images of 5 x 6 whose pixels are all non-zero, so zero fill is visible. */
function tinySet(count: number): ImageSet {
  const images = Uint8Array.from({ length: count * 30 }, (_, i) => 1 + (i % 255));
  return { images, count, rows: 5, cols: 6 };
}

/** Reference shift: output (y, x) reads input (y - dy, x - dx), zero outside. */
function shiftedCopy(set: ImageSet, id: number, dx: number, dy: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < set.rows; y++) {
    for (let x = 0; x < set.cols; x++) {
      const sy = y - dy;
      const sx = x - dx;
      const inside = sy >= 0 && sy < set.rows && sx >= 0 && sx < set.cols;
      out.push(inside ? Math.fround(set.images[id * 30 + sy * set.cols + sx]! / 255) : 0);
    }
  }
  return out;
}

/** Returns the (dx, dy) within ±maxShift whose shifted copy equals `row`, or undefined. */
function findShift(set: ImageSet, id: number, row: Float32Array, maxShift: number) {
  for (let dy = -maxShift; dy <= maxShift; dy++) {
    for (let dx = -maxShift; dx <= maxShift; dx++) {
      if (shiftedCopy(set, id, dx, dy).every((v, i) => v === row[i])) return { dx, dy };
    }
  }
  return undefined;
}

describe('fillImageBatch', () => {
  it('writes pixels / 255 as float32', () => {
    const set: ImageSet = { images: Uint8Array.of(0, 255, 128, 1, 2, 3), count: 2, rows: 1, cols: 3 };
    const out = new Float32Array(6);
    fillImageBatch(out, set, [1, 0]);
    expect(Array.from(out)).toEqual([1, 2, 3, 0, 255, 128].map((v) => Math.fround(v / 255)));
  });

  it('shifts each sample by at most maxShift with zero fill', () => {
    const set = tinySet(16);
    const ids = Array.from({ length: 16 }, (_, i) => i);
    const out = new Float32Array(16 * 30);
    fillImageBatch(out, set, ids, { maxShift: 2, seed: 9, step: 3 });
    const shifts = ids.map((id) => findShift(set, id, out.subarray(id * 30, (id + 1) * 30), 2));
    expect(shifts.every((s) => s !== undefined)).toBe(true);
    expect(new Set(shifts.map((s) => `${s!.dx},${s!.dy}`)).size).toBeGreaterThan(1);
  });

  it('shift independent of batch split', () => {
    const set = tinySet(8);
    const augment = { maxShift: 2, seed: 5, step: 11 };
    const whole = new Float32Array(8 * 30);
    fillImageBatch(whole, set, [0, 1, 2, 3, 4, 5, 6, 7], augment);
    const secondHalf = new Float32Array(4 * 30);
    fillImageBatch(secondHalf, set, [4, 5, 6, 7], augment);
    expect(Array.from(secondHalf)).toEqual(Array.from(whole.subarray(4 * 30)));
    const reversed = new Float32Array(30);
    fillImageBatch(reversed, set, [6], augment);
    expect(Array.from(reversed)).toEqual(Array.from(whole.subarray(6 * 30, 7 * 30)));
  });

  it('draws new shifts at another step', () => {
    const set = tinySet(32);
    const ids = Array.from({ length: 32 }, (_, i) => i);
    const a = new Float32Array(32 * 30);
    const b = new Float32Array(32 * 30);
    fillImageBatch(a, set, ids, { maxShift: 2, seed: 5, step: 1 });
    fillImageBatch(b, set, ids, { maxShift: 2, seed: 5, step: 2 });
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });

  it('maxShift 0 writes the unshifted images', () => {
    const set = tinySet(3);
    const plain = new Float32Array(90);
    const zeroShift = new Float32Array(90);
    fillImageBatch(plain, set, [2, 0, 1]);
    fillImageBatch(zeroShift, set, [2, 0, 1], { maxShift: 0, seed: 1, step: 1 });
    expect(Array.from(zeroShift)).toEqual(Array.from(plain));
  });

  it('BAD CALL - buffer of the wrong length', () => {
    expect(() => fillImageBatch(new Float32Array(31), tinySet(2), [0])).toThrow(
      /image batch buffer has 31 elements, expected 30/,
    );
  });

  it('BAD CALL - sample id outside the set', () => {
    expect(() => fillImageBatch(new Float32Array(30), tinySet(2), [2])).toThrow(
      /sample id 2 is outside the data set of 2 samples/,
    );
  });
});

describe('fillLabelBatch', () => {
  it('writes labels as int64', () => {
    const out = new BigInt64Array(3);
    fillLabelBatch(out, Uint8Array.of(7, 2, 9, 4), [2, 0, 3]);
    expect(Array.from(out)).toEqual([9n, 7n, 4n]);
  });

  it('BAD CALL - buffer of the wrong length', () => {
    expect(() => fillLabelBatch(new BigInt64Array(2), Uint8Array.of(1, 2, 3), [0])).toThrow(
      /label batch buffer has 2 elements, expected 1/,
    );
  });
});
