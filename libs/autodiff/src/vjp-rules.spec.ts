import { describe, expect, it } from 'vitest';
import { tensor, type DType, type Graph, type Value } from '@ringtrain/graph';
import { checkGradients, type CheckInput } from './gradient-check.js';
import { VJP_RULES } from './vjp-rules.js';

/*
 * Every rule against central finite differences in onnxruntime-node. float64 runs with
 * epsilon 1e-6 and tolerance 1e-6; Erf has no float64 kernel in onnxruntime-node 1.30's CPU
 * provider, so it runs in float32 with epsilon 1e-3 and tolerance 2e-2. The error is
 * |analytic - numeric| / max(|analytic|, |numeric|, 1).
 */
const TOLERANCE: Record<string, number> = { float64: 1e-6, float32: 2e-2 };

let state = 12345;
/** Deterministic uniform numbers for test inputs (xorshift32). */
function uniform(lo: number, hi: number): number {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return lo + (state / 4294967296) * (hi - lo);
}

/** Random input whose elements keep at least `gap` away from 0 (kinks of Relu, poles of Div). */
function input(name: string, shape: number[], { lo = -2, hi = 2, gap = 0.1, dtype = 'float64' as DType } = {}): CheckInput {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: size }, () => {
    let v = uniform(lo, hi);
    while (Math.abs(v) < gap) v = uniform(lo, hi);
    return v;
  });
  const data = dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
  return { name, dtype, shape, data };
}

function labels(name: string, shape: number[], classes: number, ignored?: number): CheckInput {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = BigInt64Array.from({ length: size }, (_, i) =>
    BigInt(ignored !== undefined && i === 1 ? ignored : Math.floor(uniform(0, classes))),
  );
  return { name, dtype: 'int64', shape, data };
}

interface RuleCase {
  name: string;
  /** Finite-difference step and tolerance, where the dtype's defaults do not fit. */
  epsilon?: number;
  tolerance?: number;
  inputs: () => CheckInput[];
  build: (g: Graph, x: Value[]) => Value[];
}

const op = (type: string, attributes: Record<string, number | string | number[]> = {}) =>
  (g: Graph, x: Value[]) => [g.op(type, x, attributes)];

const CASES: Record<string, RuleCase[]> = {
  MatMul: [
    { name: '[3, 4] x [4, 2]', inputs: () => [input('a', [3, 4]), input('b', [4, 2])], build: op('MatMul') },
    { name: '[2, 3, 4] x [4, 2] batch broadcast', inputs: () => [input('a', [2, 3, 4]), input('b', [4, 2])], build: op('MatMul') },
    { name: '[2, 1, 3, 4] x [3, 4, 2]', inputs: () => [input('a', [2, 1, 3, 4]), input('b', [3, 4, 2])], build: op('MatMul') },
    // NOTE: not MatMul(Transpose(m), v): onnxruntime-node 1.30 fuses that pair wrongly when v is
    // 1-D (it computes m reshaped rather than transposed), whatever the gradients.
    { name: '[4] x [4, 3] and [3, 4] x [4]', inputs: () => [input('v', [4]), input('m', [4, 3]), input('n', [3, 4])],
      build: (g, [v, m, n]) => [g.op('MatMul', [v!, m!]), g.op('MatMul', [n!, v!])] },
  ],
  Gemm: [0, 1].flatMap((transA) => [0, 1].map((transB) => ({
    name: `transA ${transA} transB ${transB} alpha 0.7 beta 1.3 C [1, 3]`,
    inputs: () => [input('a', transA ? [4, 2] : [2, 4]), input('b', transB ? [3, 4] : [4, 3]), input('c', [1, 3])],
    build: op('Gemm', { transA, transB, alpha: 0.7, beta: 1.3 }),
  }))).concat([
    { name: 'without C, C [3]', inputs: () => [input('a', [2, 4]), input('b', [4, 3]), input('c', [3])],
      build: (g, [a, b, c]) => [g.op('Gemm', [a!, b!]), g.op('Gemm', [a!, b!, c!])] },
  ]),
  Add: [
    { name: '[2, 3] + [3]', inputs: () => [input('a', [2, 3]), input('b', [3])], build: op('Add') },
    { name: '[2, 1, 3] + [4, 1]', inputs: () => [input('a', [2, 1, 3]), input('b', [4, 1])], build: op('Add') },
  ],
  Sub: [{ name: '[2, 3] - [2, 1]', inputs: () => [input('a', [2, 3]), input('b', [2, 1])], build: op('Sub') }],
  Mul: [
    { name: '[2, 3] * [3]', inputs: () => [input('a', [2, 3]), input('b', [3])], build: op('Mul') },
    { name: '[] * [2, 2]', inputs: () => [input('a', []), input('b', [2, 2])], build: op('Mul') },
  ],
  Div: [
    { name: '[2, 3] / [2, 1]', inputs: () => [input('a', [2, 3]), input('b', [2, 1], { gap: 0.5 })], build: op('Div') },
    { name: '[3] / [2, 3]', inputs: () => [input('a', [3]), input('b', [2, 3], { gap: 0.5 })], build: op('Div') },
  ],
  Pow: [
    { name: 'constant exponent 3 and 0.5', inputs: () => [input('x', [2, 3], { lo: 0.2, hi: 2 })],
      build: (g, [x]) => [g.op('Pow', [x!, g.scalar(3, 'float64')]), g.op('Pow', [x!, g.scalar(0.5, 'float64')])] },
    { name: 'exponent [3] as an input', inputs: () => [input('x', [2, 3], { lo: 0.2, hi: 2 }), input('p', [3])], build: op('Pow') },
  ],
  Where: [
    { name: '[2, 3] condition with [3] and [2, 1]', inputs: () => [input('x', [3]), input('y', [2, 1])],
      build: (g, [x, y]) => {
        const condition = g.constant(tensor('bool', [2, 3], [1, 0, 1, 1, 0, 0]));
        return [g.op('Where', [condition, x!, y!])];
      } },
  ],
  Sum: [{ name: '[2, 3] + [3] + [2, 1]', inputs: () => [input('a', [2, 3]), input('b', [3]), input('c', [2, 1])], build: op('Sum') }],
  Neg: [{ name: '[2, 3]', inputs: () => [input('x', [2, 3])], build: op('Neg') }],
  Identity: [{ name: '[2, 3]', inputs: () => [input('x', [2, 3])], build: op('Identity') }],
  Relu: [{ name: '[3, 4]', inputs: () => [input('x', [3, 4])], build: op('Relu') }],
  Sigmoid: [{ name: '[3, 4]', inputs: () => [input('x', [3, 4])], build: op('Sigmoid') }],
  Tanh: [{ name: '[3, 4]', inputs: () => [input('x', [3, 4])], build: op('Tanh') }],
  Exp: [{ name: '[3, 4]', inputs: () => [input('x', [3, 4])], build: op('Exp') }],
  Log: [{ name: '[3, 4]', inputs: () => [input('x', [3, 4], { lo: 0.1, hi: 3 })], build: op('Log') }],
  Sqrt: [{ name: '[3, 4]', inputs: () => [input('x', [3, 4], { lo: 0.1, hi: 3 })], build: op('Sqrt') }],
  Erf: [{ name: '[3, 4] float32', inputs: () => [input('x', [3, 4], { dtype: 'float32' })], build: op('Erf') }],
  // Through float32 the loss is rounded to about 1e-7, so the step is 1e-2 (the function is linear).
  Cast: [{ name: 'float64 to float32 and back', epsilon: 1e-2, tolerance: 1e-4, inputs: () => [input('x', [2, 3])],
    build: (g, [x]) => [g.op('Cast', [g.op('Mul', [g.op('Cast', [x!], { to: 1 }), g.scalar(2, 'float32')])], { to: 11 })] }],
  Softmax: [
    { name: '[3, 4] axis -1', inputs: () => [input('x', [3, 4])], build: op('Softmax') },
    { name: '[2, 3, 4] axis 1', inputs: () => [input('x', [2, 3, 4])], build: op('Softmax', { axis: 1 }) },
  ],
  LogSoftmax: [
    { name: '[3, 4] axis -1', inputs: () => [input('x', [3, 4])], build: op('LogSoftmax') },
    { name: '[2, 3, 4] axis 0', inputs: () => [input('x', [2, 3, 4])], build: op('LogSoftmax', { axis: 0 }) },
  ],
  SoftmaxCrossEntropyLoss: [
    ...['none', 'sum', 'mean'].map((reduction) => ({
      name: `[4, 5] reduction ${reduction} with log_prob`,
      inputs: () => [input('scores', [4, 5]), labels('labels', [4], 5)],
      build: (g: Graph, [s, l]: Value[]) => g.node('SoftmaxCrossEntropyLoss', [s!, l!], { reduction }, { outputs: 2 }),
    })),
    ...['sum', 'mean'].map((reduction) => ({
      name: `[4, 5] reduction ${reduction} ignore_index -100`,
      inputs: () => [input('scores', [4, 5]), labels('labels', [4], 5, -100)],
      build: op('SoftmaxCrossEntropyLoss', { reduction, ignore_index: -100 }),
    })),
    { name: '[3, 4, 2] mean ignore_index 1 in range', inputs: () => [input('scores', [3, 4, 2]), labels('labels', [3, 2], 4, 1)],
      build: op('SoftmaxCrossEntropyLoss', { reduction: 'mean', ignore_index: 1 }) },
  ],
  ReduceSum: [
    { name: '[2, 3, 4] axes [1] keepdims 0', inputs: () => [input('x', [2, 3, 4])], build: (g, [x]) => [g.op('ReduceSum', [x!, g.int64s([1])], { keepdims: 0 })] },
    { name: '[2, 3, 4] axes [0, -1] keepdims 1', inputs: () => [input('x', [2, 3, 4])], build: (g, [x]) => [g.op('ReduceSum', [x!, g.int64s([0, -1])])] },
    { name: '[2, 3] all axes keepdims 0', inputs: () => [input('x', [2, 3])], build: (g, [x]) => [g.op('ReduceSum', [x!], { keepdims: 0 })] },
  ],
  ReduceMean: [
    { name: '[2, 3, 4] axes [2] keepdims 0', inputs: () => [input('x', [2, 3, 4])], build: op('ReduceMean', { axes: [2], keepdims: 0 }) },
    { name: '[2, 3] all axes', inputs: () => [input('x', [2, 3])], build: op('ReduceMean') },
  ],
  Reshape: [{ name: '[2, 3, 4] to [4, -1]', inputs: () => [input('x', [2, 3, 4])], build: (g, [x]) => [g.op('Reshape', [x!, g.int64s([4, -1])])] }],
  Flatten: [{ name: '[2, 3, 4] axis 2', inputs: () => [input('x', [2, 3, 4])], build: op('Flatten', { axis: 2 }) }],
  Squeeze: [{ name: '[2, 1, 3]', inputs: () => [input('x', [2, 1, 3])], build: (g, [x]) => [g.op('Squeeze', [x!, g.int64s([1])])] }],
  Unsqueeze: [{ name: '[2, 3] axes [0]', inputs: () => [input('x', [2, 3])], build: (g, [x]) => [g.op('Unsqueeze', [x!, g.int64s([0])])] }],
  Transpose: [{ name: '[2, 3, 4] perm [2, 0, 1]', inputs: () => [input('x', [2, 3, 4])], build: op('Transpose', { perm: [2, 0, 1] }) }],
  Concat: [{ name: '[2, 1] [2, 3] axis 1', inputs: () => [input('a', [2, 1]), input('b', [2, 3])], build: op('Concat', { axis: 1 }) }],
  Dropout: [
    // onnxruntime draws a new mask on every run, so finite differences need ratio 0 here. The
    // 'Dropout gradient' suite in gradients.spec.ts checks ratio 0.3 against the run's own mask.
    { name: 'training ratio 0 with mask', inputs: () => [input('x', [4, 5])],
      build: (g, [x]) => [g.node('Dropout', [x!, g.scalar(0, 'float64'), g.constant(tensor('bool', [], [1]))], {}, { outputs: 2 })[0]!] },
    { name: 'inference mode', inputs: () => [input('x', [4, 5])], build: op('Dropout') },
  ],
};

describe('VJP_RULES', () => {
  it('should have a finite-difference case for every rule', () => {
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(VJP_RULES).sort());
  });

  for (const [opType, cases] of Object.entries(CASES)) {
    for (const c of cases) {
      it(`${opType} ${c.name}`, async () => {
        const inputs = c.inputs();
        const result = await checkGradients({ inputs, build: c.build, ...(c.epsilon ? { epsilon: c.epsilon } : {}) });
        const dtype = inputs.find((i) => i.dtype !== 'int64')!.dtype;
        expect(result.maxError, result.worst).toBeLessThan(c.tolerance ?? TOLERANCE[dtype]!);
      });
    }
  }
});
