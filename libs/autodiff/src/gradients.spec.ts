import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Graph, serializeModel, tensor, type Value } from '@ringtrain/graph';
import { buildGradients } from './gradients.js';
import { GradientError } from './vjp-context.js';

async function run(graph: Graph, feeds: Record<string, ort.Tensor>): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(serializeModel(graph));
  const out = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as Float64Array, Number)]));
}

const f64 = (data: number[], dims: number[]) => new ort.Tensor('float64', Float64Array.from(data), dims);

describe('buildGradients', () => {
  it('should sum cotangents of reused values', async () => {
    const g = new Graph();
    const x = g.input('x', 'float64', [3]);
    const loss = g.op('ReduceSum', [g.op('Add', [g.op('Mul', [x, x]), x])], { keepdims: 0 });
    const [dx] = buildGradients(g, { loss, wrt: [x] });
    g.output(dx!, 'dx');
    const out = await run(g, { x: f64([1, -2, 0.5], [3]) });
    expect(out['dx']).toEqual([3, -3, 2]);
  });

  it('should handle a symbolic batch', async () => {
    const g = new Graph();
    const x = g.input('x', 'float64', ['batch', 2]);
    const w = g.input('w', 'float64', [3, 2]);
    const b = g.input('b', 'float64', [3]);
    const y = g.op('Add', [g.op('Gemm', [x, w], { transB: 1 }), b]);
    const loss = g.op('ReduceMean', [g.op('Mul', [y, y])], { keepdims: 0 });
    const [dw, db] = buildGradients(g, { loss, wrt: [w, b] });
    g.output(dw!, 'dw');
    g.output(db!, 'db');
    const wData = [1, 2, -1, 0.5, 0, 1];
    const bData = [0.1, -0.2, 0.3];
    for (const batch of [2, 5]) {
      const xData = Array.from({ length: batch * 2 }, (_, i) => Math.cos(i));
      const out = await run(g, { x: f64(xData, [batch, 2]), w: f64(wData, [3, 2]), b: f64(bData, [3]) });
      // Reference: y = x w^T + b, L = mean(y^2), dL/dy = 2y / (3 batch).
      const dwRef = new Array<number>(6).fill(0);
      const dbRef = new Array<number>(3).fill(0);
      for (let n = 0; n < batch; n++) {
        for (let j = 0; j < 3; j++) {
          const yj = xData[2 * n]! * wData[2 * j]! + xData[2 * n + 1]! * wData[2 * j + 1]! + bData[j]!;
          const dy = (2 * yj) / (3 * batch);
          dbRef[j]! += dy;
          dwRef[2 * j]! += dy * xData[2 * n]!;
          dwRef[2 * j + 1]! += dy * xData[2 * n + 1]!;
        }
      }
      out['dw']!.forEach((v, i) => expect(v).toBeCloseTo(dwRef[i]!, 12));
      out['db']!.forEach((v, i) => expect(v).toBeCloseTo(dbRef[i]!, 12));
    }
  });

  it('should give integer and constant inputs no gradient', () => {
    const g = new Graph();
    const x = g.input('x', 'float64', [2, 3]);
    const labels = g.input('labels', 'int64', [2]);
    const c = g.constant(tensor('float64', [3], [1, 2, 3]));
    // Foo has no rule, but only the label path reaches it, so the walk never looks one up.
    const weights = g.op('Foo', [labels], {}, { outputTypes: [{ dtype: 'float64', shape: [2, 1] }] });
    const y = g.op('Mul', [g.op('Mul', [x, c]), weights]);
    const loss = g.op('ReduceSum', [y], { keepdims: 0 });
    const [dx] = buildGradients(g, { loss, wrt: [x] });
    expect(dx!.shape).toEqual([2, 3]);
    expect(g.nodes.some((n) => n.name.startsWith('grad/foo'))).toBe(false);
  });

  it('should return zeros for a parameter that the loss does not use', async () => {
    const g = new Graph();
    const x = g.input('x', 'float64', [2]);
    const unused = g.input('unused', 'float64', ['batch', 2]);
    const [, dUnused] = buildGradients(g, { loss: g.op('ReduceSum', [x], { keepdims: 0 }), wrt: [x, unused] });
    g.output(dUnused!, 'd');
    const out = await run(g, { x: f64([1, 2], [2]), unused: f64([5, 6, 7, 8, 9, 10], [3, 2]) });
    expect(out['d']).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('should accept seeded cotangents for a vector-Jacobian product', async () => {
    const g = new Graph();
    const x = g.input('x', 'float64', [3]);
    const seed = g.input('seed', 'float64', [3]);
    const y = g.op('Exp', [x]);
    const [dx] = buildGradients(g, { seeds: [[y, seed]], wrt: [x] });
    g.output(dx!, 'dx');
    const out = await run(g, { x: f64([0, 1, 2], [3]), seed: f64([1, 2, 3], [3]) });
    [1, 2 * Math.E, 3 * Math.exp(2)].forEach((v, i) => expect(out['dx']![i]).toBeCloseTo(v, 12));
  });

  it('EXPECTED FAILURE - op without a rule names the op, node and remedy', () => {
    const g = new Graph();
    const x = g.input('x', 'float64', [2]);
    const y = g.op('Foo', [x], {}, { name: 'foo_3', outputTypes: [{ dtype: 'float64', shape: [2] }] });
    const loss = g.op('ReduceSum', [y], { keepdims: 0 });
    expect(() => buildGradients(g, { loss, wrt: [x] })).toThrow(GradientError);
    expect(() => buildGradients(g, { loss, wrt: [x] })).toThrow(
      "no gradient rule for op 'Foo' (node 'foo_3'); add one to libs/autodiff VJP_RULES " +
        '(or pass it in rules) or mark its inputs as constant',
    );
  });

  it('should use a rule passed in rules', async () => {
    const g = new Graph();
    // Softplus has only a float32 kernel in onnxruntime-node 1.30.
    const x = g.input('x', 'float32', [2]);
    const y = g.op('Softplus', [x]);
    const loss = g.op('ReduceSum', [y], { keepdims: 0 });
    const [dx] = buildGradients(g, {
      loss,
      wrt: [x],
      rules: { Softplus: (ctx) => [ctx.mul(ctx.gradOutput(), ctx.op('Sigmoid', [ctx.input(0)]))] },
    });
    g.output(dx!, 'dx');
    const out = await run(g, { x: new ort.Tensor('float32', Float32Array.from([0, 2]), [2]) });
    [0.5, 1 / (1 + Math.exp(-2))].forEach((v, i) => expect(out['dx']![i]).toBeCloseTo(v, 6));
  });

  it('EXPECTED FAILURE - loss of shape [2]', () => {
    const g = new Graph();
    const x = g.input('x', 'float64', [2]);
    expect(() => buildGradients(g, { loss: x, wrt: [x] })).toThrow(/must be a scalar, got shape \[2\]/);
  });

  it('EXPECTED FAILURE - Dropout in training mode without its mask output', () => {
    const g = new Graph();
    const x = g.input('x', 'float64', [2]);
    const on = g.constant(tensor('bool', [], [1]));
    const y = g.op('Dropout', [x, g.scalar(0.5, 'float64'), on], {}, { name: 'drop' });
    const loss = g.op('ReduceSum', [y], { keepdims: 0 });
    expect(() => buildGradients(g, { loss, wrt: [x] })).toThrow(/Dropout node 'drop'.*must output its mask/);
  });
});

describe('Dropout gradient', () => {
  it('should equal r * mask / (1 - 0.3) with the run\'s own mask, [4, 50]', async () => {
    const g = new Graph();
    const x = g.input('x', 'float64', [4, 50]);
    const r = g.input('r', 'float64', [4, 50]);
    const on = g.constant(tensor('bool', [], [1]));
    const [y, mask] = g.node('Dropout', [x, g.scalar(0.3, 'float64'), on], {}, { outputs: 2 }) as [Value, Value];
    const loss = g.op('ReduceSum', [g.op('Mul', [y, r])], { keepdims: 0 });
    const [dx] = buildGradients(g, { loss, wrt: [x] });
    g.output(dx!, 'dx');
    g.output(mask, 'mask');
    const rData = Array.from({ length: 200 }, (_, i) => Math.sin(i) + 2);
    const out = await run(g, { x: f64(rData.map((v) => -v), [4, 50]), r: f64(rData, [4, 50]) });
    const kept = out['mask']!.filter(Boolean).length;
    expect(kept).toBeGreaterThan(100);
    expect(kept).toBeLessThan(180);
    out['dx']!.forEach((v, i) => expect(v).toBeCloseTo((rData[i]! * out['mask']![i]!) / 0.7, 12));
  });
});
