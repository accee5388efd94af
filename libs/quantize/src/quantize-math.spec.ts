import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Graph, serializeModel } from '@ringtrain/graph';
import { affineParams, quantizeMatrix, quantizeValue, roundHalfEven, symmetricParams } from './quantize-math.js';

describe('roundHalfEven', () => {
  it('sends halves to the even neighbour', () => {
    const cases: [number, number][] = [[0.5, 0], [1.5, 2], [2.5, 2], [-0.5, -0], [-1.5, -2], [-2.5, -2], [2.4, 2], [2.6, 3], [-2.6, -3]];
    for (const [x, want] of cases) expect(roundHalfEven(x), String(x)).toBe(want);
  });
});

describe('quantisation parameters', () => {
  it('symmetric int8 maps the largest magnitude to 127', () => {
    expect(symmetricParams(1.27)).toEqual({ scale: 0.01, zeroPoint: 0 });
    expect(quantizeValue(-1.27, 0.01, 0, 'int8')).toBe(-127);
    expect(quantizeValue(0.015, 0.01, 0, 'int8')).toBe(2);
    expect(quantizeValue(9, 0.01, 0, 'int8')).toBe(127);
    expect(symmetricParams(0)).toEqual({ scale: 1, zeroPoint: 0 });
  });

  it('affine parameters match a hand computation', () => {
    // [-1, 3] over uint8: scale 4 / 255, zero point round(1 / (4 / 255)) = round(63.75) = 64.
    const u = affineParams(-1, 3, 'uint8');
    expect(u.scale).toBe(Math.fround(4 / 255));
    expect(u.zeroPoint).toBe(64);
    // Over int8 the zero point moves by -128: round(-128 + 63.75) = -64.
    expect(affineParams(-1, 3, 'int8').zeroPoint).toBe(-64);
    // A range without 0 is widened to contain it, so 0 stays exact.
    const positive = affineParams(2, 5, 'uint8');
    expect(positive.zeroPoint).toBe(0);
    expect(positive.scale).toBe(Math.fround(5 / 255));
  });

  it('affine uint8 agrees with onnxruntime DynamicQuantizeLinear', async () => {
    const values = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7) * 3 - 0.8);
    const g = new Graph('dql');
    const x = g.input('x', 'float32', [64]);
    const [q, scale, zeroPoint] = g.node('DynamicQuantizeLinear', [x], {}, { outputTypes: [{ dtype: 'uint8', shape: [64] }, { dtype: 'float32', shape: [] }, { dtype: 'uint8', shape: [] }] });
    g.output(q!, 'q');
    g.output(scale!, 'scale');
    g.output(zeroPoint!, 'zero_point');
    const session = await ort.InferenceSession.create(serializeModel(g));
    const out = await session.run({ x: new ort.Tensor('float32', values, [64]) });
    const params = affineParams(Math.min(...values), Math.max(...values), 'uint8');
    expect(Math.fround(params.scale)).toBe((out['scale']!.data as Float32Array)[0]);
    expect(params.zeroPoint).toBe((out['zero_point']!.data as Uint8Array)[0]);
    const scale32 = (out['scale']!.data as Float32Array)[0]!;
    const ours = Array.from(values, (v) => quantizeValue(v, scale32, params.zeroPoint, 'uint8'));
    expect(ours).toEqual(Array.from(out['q']!.data as Uint8Array));
  });
});

describe('quantizeMatrix', () => {
  const m = Float32Array.from([0.5, -2, 0.25, 1, 4, -0.125]);

  it('one scale per column', () => {
    const q = quantizeMatrix(m, 2, 3, true);
    expect(Array.from(q.scales)).toEqual([1 / 127, 4 / 127, 0.25 / 127].map(Math.fround));
    expect(Array.from(q.values)).toEqual([64, -64, 127, 127, 127, -64]);
  });

  it('one scale for the whole matrix, and dequantisation within half a step', () => {
    const q = quantizeMatrix(m, 2, 3, false);
    expect(Array.from(q.scales)).toEqual([Math.fround(4 / 127)]);
    m.forEach((v, i) => expect(Math.abs(q.values[i]! * q.scales[0]! - v)).toBeLessThanOrEqual(q.scales[0]! / 2 + 1e-7));
  });
});
