import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Graph, serializeModel } from '@ringtrain/graph';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';

/** Casts float32 values to float16 in onnxruntime and returns the bits. */
async function castInOnnxruntime(values: Float32Array): Promise<Uint16Array> {
  const g = new Graph('cast');
  const x = g.input('x', 'float32', [values.length]);
  g.output(g.op('Cast', [x], { to: 10 }, { name: 'to_float16' }), 'y');
  const session = await ort.InferenceSession.create(serializeModel(g));
  const out = await session.run({ x: new ort.Tensor('float32', values, [values.length]) });
  await session.release();
  return out['y']!.data as Uint16Array;
}

describe('toFloat16Bits', () => {
  it('hand cases: normals, ties to even, subnormals, limits', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [65504, 0x7bff],
      // 65520 is halfway between 65504 and 2^16, and the even neighbour is the next binade: Infinity.
      [65520, 0x7c00],
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      // 2^-25 is halfway between 0 and the smallest subnormal and goes to the even one, 0.
      [2 ** -25, 0x0000],
      [3 * 2 ** -25, 0x0002],
      // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: even mantissa 0. 1 + 3 * 2^-11 goes up to mantissa 2.
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [-0, 0x8000],
    ];
    for (const [x, bits] of cases) expect(toFloat16Bits(x), `float16 of ${x}`).toBe(bits);
    expect(toFloat16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(toFloat16Bits(NaN) & 0x3ff).not.toBe(0);
  });

  it('matches onnxruntime Cast bit for bit', async () => {
    const values = Float32Array.from({ length: 4000 }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 14) - 9));
    const expected = await castInOnnxruntime(values);
    const got = Uint16Array.from(values, toFloat16Bits);
    const mismatches = Array.from(values).filter((_, i) => got[i] !== expected[i]);
    expect(mismatches).toEqual([]);
  });

  it('fromFloat16Bits inverts it on every finite float16', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = fromFloat16Bits(bits);
      if (Number.isNaN(value)) continue;
      if (toFloat16Bits(value) !== bits) throw new Error(`bits ${bits.toString(16)} -> ${value} -> ${toFloat16Bits(value).toString(16)}`);
    }
  });
});
