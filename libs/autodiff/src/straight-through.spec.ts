import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Graph, serializeModel, tensor, type Value } from '@ringtrain/graph';
import { buildGradients } from './gradients.js';
import { GradientError } from './vjp-context.js';

/** Runs a float32 graph and returns its outputs as number arrays. */
async function run(graph: Graph, feeds: Record<string, Float32Array>, shapes: Record<string, number[]>): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(serializeModel(graph));
  const tensors = Object.fromEntries(Object.entries(feeds).map(([name, data]) => [name, new ort.Tensor('float32', data, shapes[name]!)]));
  const out = await session.run(tensors);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as Float32Array, Number)]));
}

/** L = sum(y * r) with a fixed cotangent r, so that dL/dy = r. */
function weightedSum(g: Graph, y: Value, r: readonly number[]): Value {
  const weights = g.constant(tensor('float32', y.shape as number[], r), 'r');
  return g.op('ReduceSum', [g.op('Mul', [y, weights])], { keepdims: 0 });
}

describe('straight-through gradient', () => {
  it('passes inside the range, 0 where QuantizeLinear clips', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [8]);
    const scale = g.scalar(0.1, 'float32');
    const zeroPoint = g.constant(tensor('int8', [], [3]));
    const y = g.op('DequantizeLinear', [g.op('QuantizeLinear', [x, scale, zeroPoint]), scale, zeroPoint]);
    const r = [1, 2, 3, 4, 5, 6, 7, 8];
    const [dx] = buildGradients(g, { loss: weightedSum(g, y, r), wrt: [x] });
    g.output(y, 'y');
    g.output(dx!, 'dx');
    // int8 with zero point 3 represents round(x / 0.1) + 3 in [-128, 127]: x in [-13.15, 12.45).
    const xs = [-20, -13.2, -13.1, -0.04, 0.26, 12.4, 12.5, 30];
    const out = await run(g, { x: Float32Array.from(xs) }, { x: [8] });
    expect(out['dx']).toEqual([0, 0, 3, 4, 5, 6, 0, 0]);
    // The forward pass clips to -131 and 124 steps from the zero point.
    const want = [-13.1, -13.1, -13.1, 0, 0.3, 12.4, 12.4, 12.4];
    out['y']!.forEach((v, i) => expect(v, `y[${i}]`).toBeCloseTo(want[i]!, 5));
  });

  it('lines up a per-axis range with its axis', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [3, 2]);
    // Rows with uint8 ranges [0, 2.55], [-1, 1.55] and [-5.1, 0] (scale 0.01, 0.01, 0.02).
    const scale = g.constant(tensor('float32', [3], [0.01, 0.01, 0.02]));
    const zeroPoint = g.constant(tensor('uint8', [3], [0, 100, 255]));
    const q = g.op('QuantizeLinear', [x, scale, zeroPoint], { axis: 0 });
    const y = g.op('DequantizeLinear', [q, scale, zeroPoint], { axis: 0 });
    const [dx] = buildGradients(g, { loss: weightedSum(g, y, [1, 1, 1, 1, 1, 1]), wrt: [x] });
    g.output(dx!, 'dx');
    const out = await run(g, { x: Float32Array.from([-0.1, 2.5, -1.2, 1.5, -5, 0.2]) }, { x: [3, 2] });
    expect(out['dx']).toEqual([0, 1, 0, 1, 1, 0]);
  });

  it('gives a scale computed from x no gradient', async () => {
    // The symmetric int8 weight quantiser: scale = max |x| / 127 clips nothing.
    const g = new Graph();
    const x = g.input('x', 'float32', [2, 3]);
    const absMax = g.op('ReduceMax', [g.op('Abs', [x])], { axes: [1], keepdims: 0 });
    const scale = g.op('Div', [absMax, g.scalar(127, 'float32')]);
    const zeroPoint = g.constant(tensor('int8', [2], [0, 0]));
    const q = g.op('QuantizeLinear', [x, scale, zeroPoint], { axis: 0 });
    const y = g.op('DequantizeLinear', [q, scale, zeroPoint], { axis: 0 });
    const r = [0.5, -1, 2, 3, -4, 0.25];
    const [dx] = buildGradients(g, { loss: weightedSum(g, y, r), wrt: [x] });
    g.output(dx!, 'dx');
    const out = await run(g, { x: Float32Array.from([0.3, -1.7, 0.9, 4, 2.2, -4]) }, { x: [2, 3] });
    // The true gradient through the scale would add terms at the largest magnitudes (-1.7, 4, -4).
    expect(out['dx']).toEqual(r);
  });

  it('passes DynamicQuantizeLinear unchanged', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [5]);
    const [q, scale, zeroPoint] = g.node('DynamicQuantizeLinear', [x]);
    const y = g.op('DequantizeLinear', [q!, scale!, zeroPoint!]);
    const r = [1, -2, 3, -4, 5];
    const [dx] = buildGradients(g, { loss: weightedSum(g, y, r), wrt: [x] });
    g.output(dx!, 'dx');
    const out = await run(g, { x: Float32Array.from([-3, -0.5, 0, 0.7, 9]) }, { x: [5] });
    expect(out['dx']).toEqual(r);
  });

  it('EXPECTED FAILURE - DequantizeLinear with another scale', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [4]);
    const q = g.op('QuantizeLinear', [x, g.scalar(0.1, 'float32')], {}, { name: 'q' });
    const y = g.op('DequantizeLinear', [q, g.scalar(0.2, 'float32')], {}, { name: 'dq' });
    expect(() => buildGradients(g, { loss: g.op('ReduceSum', [y], { keepdims: 0 }), wrt: [x] })).toThrow(
      /DequantizeLinear node 'dq' reads the output of QuantizeLinear node 'q' with another scale, zero point or axis/,
    );
  });

  it('EXPECTED FAILURE - integer product of quantised values', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2, 4]);
    const w = g.constant(tensor('uint8', [4, 3], new Uint8Array(12).fill(2)));
    const [q, scale] = g.node('DynamicQuantizeLinear', [x], {}, { name: 'dql' });
    const product = g.op('MatMulInteger', [q!, w], {}, { name: 'mmi', outputTypes: [{ dtype: 'int32', shape: [2, 3] }] });
    const y = g.op('Mul', [g.op('Cast', [product], { to: 1 }), scale!]);
    expect(() => buildGradients(g, { loss: g.op('ReduceSum', [y], { keepdims: 0 }), wrt: [x] })).toThrow(
      /MatMulInteger node 'mmi' reads 'dql_out0', the integer output of DynamicQuantizeLinear node 'dql', whose input needs a gradient/,
    );
  });

  it('EXPECTED FAILURE - loss through a dynamic scale', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [4]);
    const [, scale] = g.node('DynamicQuantizeLinear', [x], {}, { name: 'dql' });
    expect(() => buildGradients(g, { loss: g.op('ReduceSum', [scale!], { keepdims: 0 }), wrt: [x] })).toThrow(
      /the loss depends on the scale or zero point of DynamicQuantizeLinear node 'dql' outside its fake quantiser/,
    );
  });

  it('EXPECTED FAILURE - trainable scale of stored integers', () => {
    const g = new Graph();
    const s = g.input('s', 'float32', []);
    const stored = g.constant(tensor('int8', [3], [1, -2, 3]));
    const y = g.op('DequantizeLinear', [stored, s], {}, { name: 'dq' });
    expect(() => buildGradients(g, { loss: g.op('ReduceSum', [y], { keepdims: 0 }), wrt: [s] })).toThrow(GradientError);
    expect(() => buildGradients(g, { loss: g.op('ReduceSum', [y], { keepdims: 0 }), wrt: [s] })).toThrow(
      /gradient of DequantizeLinear node 'dq': the scale or zero point needs a gradient, but the straight-through estimator gives quantisation parameters none/,
    );
  });
});
