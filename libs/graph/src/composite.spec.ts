import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { gelu, geluTanh, silu } from './composite.js';
import { Graph, type Value } from './graph.js';
import { serializeModel } from './onnx-writer.js';

const xs = [-3, -1, -0.5, 0, 0.3, 1, 2.5];

/** erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return Math.sign(x) * (1 - poly * Math.exp(-x * x));
}

async function evaluate(build: (g: Graph, x: Value) => Value): Promise<number[]> {
  const g = new Graph();
  const x = g.input('x', 'float32', [xs.length]);
  g.output(build(g, x), 'y');
  const session = await ort.InferenceSession.create(serializeModel(g));
  const { y } = await session.run({ x: new ort.Tensor('float32', Float32Array.from(xs), [xs.length]) });
  await session.release();
  return Array.from(y!.data as Float32Array);
}

describe('composite functions', () => {
  it('should compute gelu from Erf at opset 17 (tolerance 1e-6)', async () => {
    const got = await evaluate(gelu);
    got.forEach((y, i) => expect(y).toBeCloseTo(0.5 * xs[i]! * (1 + erf(xs[i]! / Math.SQRT2)), 6));
  });

  it('should compute geluTanh (tolerance 1e-6)', async () => {
    const got = await evaluate(geluTanh);
    const expected = xs.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
    got.forEach((y, i) => expect(y).toBeCloseTo(expected[i]!, 6));
  });

  it('should compute silu (tolerance 1e-6)', async () => {
    const got = await evaluate(silu);
    got.forEach((y, i) => expect(y).toBeCloseTo(xs[i]! / (1 + Math.exp(-xs[i]!)), 6));
  });
});
