import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Graph, serializeModel } from '@ringtrain/graph';
import { activationParams, affineParams, quantizeBias, quantizeMatrix, quantizeValue, quantizeWeight, roundHalfEven, symmetricParams, type QuantType } from './quantize-math.js';

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

/** Runs QuantizeLinear then DequantizeLinear in onnxruntime, with one scale or one per slice along `axis`. */
async function roundTripInOnnxruntime(
  values: Float32Array,
  dims: number[],
  scales: Float32Array,
  zeroPoints: number[],
  type: QuantType,
  axis: number | undefined,
): Promise<{ q: number[]; x: Float32Array }> {
  const g = new Graph('qdq');
  const x = g.input('x', 'float32', dims);
  const paramShape = axis === undefined ? [] : [scales.length];
  const scale = g.initializer('scale', { dtype: 'float32', shape: paramShape, data: scales });
  const zeroPoint = g.initializer('zero_point', { dtype: type, shape: paramShape, data: type === 'int8' ? Int8Array.from(zeroPoints) : Uint8Array.from(zeroPoints) });
  const attributes: Record<string, { type: 'int'; value: number }> = axis === undefined ? {} : { axis: { type: 'int', value: axis } };
  const [q] = g.node('QuantizeLinear', [x, scale, zeroPoint], attributes, { outputTypes: [{ dtype: type, shape: dims }] });
  const [back] = g.node('DequantizeLinear', [q!, scale, zeroPoint], attributes, { outputTypes: [{ dtype: 'float32', shape: dims }] });
  g.output(q!, 'q');
  g.output(back!, 'back');
  const session = await ort.InferenceSession.create(serializeModel(g));
  const out = await session.run({ x: new ort.Tensor('float32', values, dims) });
  await session.release();
  return { q: Array.from(out['q']!.data as Int8Array | Uint8Array), x: out['back']!.data as Float32Array };
}

describe('quantise-dequantise round trips', () => {
  it('symmetric int8 per tensor, hand-computed scale', async () => {
    const values = Float32Array.from([-2.54, -1, 0, 0.5, 1.27, 2]);
    const q = quantizeWeight(values, [2, 3], undefined);
    // max |x| = 2.54, so the scale is 2.54 / 127 = 0.02 and zero point 0.
    expect(Array.from(q.scales)).toEqual([Math.fround(0.02)]);
    expect(Array.from(q.values)).toEqual([-127, -50, 0, 25, 64, 100]);
    const ort = await roundTripInOnnxruntime(values, [2, 3], q.scales, [0], 'int8', undefined);
    expect(ort.q).toEqual(Array.from(q.values));
    values.forEach((v, i) => expect(Math.abs(ort.x[i]! - v), `element ${i}`).toBeLessThanOrEqual(0.01 + 1e-7));
  });

  it('symmetric int8 per channel, with an all-zero channel', async () => {
    // Conv-style weight [3 channels, 2 values]; axis 0 is the output channel, and channel 1 is all zero.
    const values = Float32Array.from([0.5, -1, 0, 0, 3.81, 1.27]);
    const q = quantizeWeight(values, [3, 2], 0);
    expect(Array.from(q.scales)).toEqual([1 / 127, 1, 3.81 / 127].map(Math.fround));
    expect(Array.from(q.values)).toEqual([64, -127, 0, 0, 127, 42]);
    const ort = await roundTripInOnnxruntime(values, [3, 2], q.scales, [0, 0, 0], 'int8', 0);
    expect(ort.q).toEqual(Array.from(q.values));
    expect(Array.from(ort.x.subarray(2, 4))).toEqual([0, 0]);
    values.forEach((v, i) => expect(Math.abs(ort.x[i]! - v), `element ${i}`).toBeLessThanOrEqual(q.scales[Math.floor(i / 2)]! / 2 + 1e-7));
  });

  it('asymmetric uint8 of a range without 0 and of an all-zero tensor', async () => {
    // [2, 5] is widened to [0, 5]: scale 5 / 255, zero point 0, so 0 stays exact.
    const positive = activationParams(2, 5, false);
    expect(positive).toEqual({ scale: Math.fround(5 / 255), zeroPoint: 0, type: 'uint8' });
    // 2, 3.6 and 5 are 102, 183.6 and 255 steps of 5 / 255.
    const values = Float32Array.from([2, 3.6, 5, 0]);
    const ort = await roundTripInOnnxruntime(values, [4], Float32Array.of(positive.scale), [0], 'uint8', undefined);
    expect(ort.q).toEqual([102, 184, 255, 0]);
    values.forEach((v, i) => expect(Math.abs(ort.x[i]! - v), `element ${i}`).toBeLessThanOrEqual(positive.scale / 2 + 1e-6));
    // An all-zero range gets scale 1 and zero point 0.
    expect(activationParams(0, 0, false)).toEqual({ scale: 1, zeroPoint: 0, type: 'uint8' });
    expect(activationParams(0, 0, true)).toEqual({ scale: 1, zeroPoint: 0, type: 'int8' });
    const zeros = await roundTripInOnnxruntime(new Float32Array(4), [4], Float32Array.of(1), [0], 'uint8', undefined);
    expect(zeros.q).toEqual([0, 0, 0, 0]);
    expect(Array.from(zeros.x)).toEqual([0, 0, 0, 0]);
  });

  it('asymmetric uint8 with a zero point, and symmetric int8 activations', async () => {
    // [-1, 3]: scale 4 / 255, zero point round(255 / 4) = 64.
    const affine = activationParams(-1, 3, false);
    expect(affine).toEqual({ scale: Math.fround(4 / 255), zeroPoint: 64, type: 'uint8' });
    const values = Float32Array.from([-1, 0, 1, 3]);
    const ort = await roundTripInOnnxruntime(values, [4], Float32Array.of(affine.scale), [64], 'uint8', undefined);
    expect(ort.q).toEqual([0, 64, 128, 255]);
    // Symmetric: max(|-1|, |3|) = 3, scale 3 / 127, zero point 0, int8.
    const symmetric = activationParams(-1, 3, true);
    expect(symmetric).toEqual({ scale: Math.fround(3 / 127), zeroPoint: 0, type: 'int8' });
    const signed = await roundTripInOnnxruntime(values, [4], Float32Array.of(symmetric.scale), [0], 'int8', undefined);
    expect(signed.q).toEqual([-42, 0, 42, 127]);
    values.forEach((v, i) => expect(Math.abs(signed.x[i]! - v), `element ${i}`).toBeLessThanOrEqual(symmetric.scale / 2 + 1e-6));
  });

  it('int32 bias at scale inputScale * weightScale', () => {
    const bias = quantizeBias(Float32Array.from([1.3, -0.7]), 0.5, Float32Array.from([0.25, 0.125]));
    // Scales 0.125 and 0.0625: 1.3 / 0.125 = 10.4 and -0.7 / 0.0625 = -11.2.
    expect(Array.from(bias!.scales)).toEqual([0.125, 0.0625]);
    expect(Array.from(bias!.values)).toEqual([10, -11]);
    expect(quantizeBias(Float32Array.from([1e6]), 1e-6, Float32Array.from([1e-6])), 'beyond int32').toBeUndefined();
  });
});
