import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { gelu, geluTanh, Graph, serializeModel, tensor, type DType, type Value } from '@ringtrain/graph';
import { checkGradients, type CheckInput } from './gradient-check.js';
import { buildGradients } from './gradients.js';
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

function ints(name: string, shape: number[], values: number[]): CheckInput {
  return { name, dtype: 'int64', shape, data: BigInt64Array.from(values, BigInt) };
}

/** Input with the given elements, for cases that need exact ties. */
function fixed(name: string, shape: number[], values: number[]): CheckInput {
  return { name, dtype: 'float64', shape, data: Float64Array.from(values) };
}

/** Slice's "to the end" and "to the start" bounds: the largest and smallest int64. */
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const bounds = (g: Graph, values: readonly bigint[]) => g.constant(tensor('int64', [values.length], values));

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
    { name: '[2, 1, 3, 4] x [1, 5, 4, 2] both broadcast', inputs: () => [input('a', [2, 1, 3, 4]), input('b', [1, 5, 4, 2])], build: op('MatMul') },
    { name: '[2, 3, 4, 5] x [2, 3, 5, 6] batched', inputs: () => [input('a', [2, 3, 4, 5]), input('b', [2, 3, 5, 6])], build: op('MatMul') },
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
    { name: '[2, 2, 3, 4] axis -1', inputs: () => [input('x', [2, 2, 3, 4])], build: op('Softmax', { axis: -1 }) },
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
  Gather: [
    { name: 'axis 0 ids [2, 3] with repeats', inputs: () => [input('w', [5, 3]), ints('ids', [2, 3], [1, 3, 1, 4, 1, 0])],
      build: op('Gather') },
    { name: 'axis 1 negative and repeated ids', inputs: () => [input('x', [2, 4, 3]), ints('ids', [3], [-1, 2, -1])],
      build: op('Gather', { axis: 1 }) },
    { name: 'axis 2 ids [2, 2]', inputs: () => [input('x', [2, 3, 4]), ints('ids', [2, 2], [3, 0, 3, 3])],
      build: op('Gather', { axis: 2 }) },
    { name: 'scalar index', inputs: () => [input('w', [4, 3]), ints('ids', [], [2])], build: op('Gather') },
  ],
  LayerNormalization: [
    { name: '[2, 3, 4] axis -1 with B', inputs: () => [input('x', [2, 3, 4]), input('scale', [4]), input('b', [4])],
      build: op('LayerNormalization') },
    { name: '[2, 3, 4] axis 1 over two axes', inputs: () => [input('x', [2, 3, 4]), input('scale', [3, 4]), input('b', [3, 4])],
      build: op('LayerNormalization', { axis: 1, epsilon: 1e-3 }) },
    { name: '[3, 5] without B', inputs: () => [input('x', [3, 5]), input('scale', [5])], build: op('LayerNormalization') },
    // The Mean and InvStdDev outputs are float32 (stash_type 1) whatever X is, so this case runs in float32.
    { name: 'Mean and InvStdDev outputs float32',
      inputs: () => [input('x', [2, 3, 4], { dtype: 'float32' }), input('scale', [4], { dtype: 'float32' }), input('b', [4], { dtype: 'float32' })],
      build: (g, x) => g.node('LayerNormalization', x, { axis: -1 }, { outputs: 3 }) },
  ],
  Slice: [
    { name: '[4, 5] negative start, end INT64 max', inputs: () => [input('x', [4, 5])],
      build: (g, [x]) => [g.op('Slice', [x!, bounds(g, [1n, -3n]), bounds(g, [3n, INT64_MAX]), g.int64s([0, 1])])] },
    { name: '[2, 3, 4] axes [-1] negative end', inputs: () => [input('x', [2, 3, 4])],
      build: (g, [x]) => [g.op('Slice', [x!, g.int64s([0]), g.int64s([-1]), g.int64s([-1])])] },
    { name: '[3, 6] steps 2 and -2', inputs: () => [input('x', [3, 6])],
      build: (g, [x]) => [
        g.op('Slice', [x!, g.int64s([1]), bounds(g, [INT64_MAX]), g.int64s([1]), g.int64s([2])]),
        g.op('Slice', [x!, g.int64s([-1, 2]), bounds(g, [INT64_MIN, 0n]), g.int64s([1, 0]), g.int64s([-2, -1])]),
      ] },
    { name: 'empty slice', inputs: () => [input('x', [3, 4])],
      build: (g, [x]) => [g.op('Add', [g.op('ReduceSum', [g.op('Slice', [x!, g.int64s([3]), g.int64s([1]), g.int64s([1])])], { keepdims: 0 }), g.op('ReduceSum', [x!], { keepdims: 0 })])] },
  ],
  Split: [
    { name: '[4, 6] sizes [1, 2, 3] axis 1', inputs: () => [input('x', [4, 6])],
      build: (g, [x]) => g.node('Split', [x!, g.int64s([1, 2, 3])], { axis: 1 }, { outputs: 3 }) },
    { name: '[6, 2] equal thirds, middle unused', inputs: () => [input('x', [6, 2])],
      build: (g, [x]) => {
        const [first, , last] = g.node('Split', [x!], { axis: 0 }, { outputs: 3 });
        return [first!, last!];
      } },
    { name: '[2, 4] axis -1 first unused', inputs: () => [input('x', [2, 4])],
      build: (g, [x]) => [g.node('Split', [x!, g.int64s([3, 1])], { axis: -1 }, { outputs: 2 })[1]!] },
  ],
  Expand: [
    { name: '[3, 1] to [2, 3, 4]', inputs: () => [input('x', [3, 1])], build: (g, [x]) => [g.op('Expand', [x!, g.int64s([2, 3, 4])])] },
    { name: '[2, 1, 4] to [3, 1]', inputs: () => [input('x', [2, 1, 4])], build: (g, [x]) => [g.op('Expand', [x!, g.int64s([3, 1])])] },
  ],
  Trilu: [
    { name: '[2, 3, 4] upper default k', inputs: () => [input('x', [2, 3, 4])], build: op('Trilu') },
    { name: '[4, 4] upper k 1', inputs: () => [input('x', [4, 4])], build: (g, [x]) => [g.op('Trilu', [x!, g.constant(tensor('int64', [], [1]))])] },
    { name: '[3, 5] lower k -1', inputs: () => [input('x', [3, 5])],
      build: (g, [x]) => [g.op('Trilu', [x!, g.constant(tensor('int64', [], [-1]))], { upper: 0 })] },
  ],
  ReduceMax: [
    { name: '[2, 3, 4] axes [1] keepdims 0', inputs: () => [input('x', [2, 3, 4])], build: op('ReduceMax', { axes: [1], keepdims: 0 }) },
    // Rows 0 and 1 tie for the max. Central differences give each of two tied elements 1/2, as
    // the even split does. They would give 1/2 to each of three tied elements too, so the cases
    // avoid three-way ties.
    { name: '[3, 4] axes [-1] ties split evenly', inputs: () => [fixed('x', [3, 4], [1, 2, 2, -1, 0.5, 0.2, 0.5, 0.1, -3, 1, 0, 2])],
      build: op('ReduceMax', { axes: [-1] }) },
  ],
  ReduceMin: [
    { name: '[3, 4] all axes keepdims 0', inputs: () => [input('x', [3, 4])], build: op('ReduceMin', { keepdims: 0 }) },
    { name: '[2, 3] axes [0] with a tie', inputs: () => [fixed('x', [2, 3], [1, -2, 0.3, 1, 0.5, -0.7])],
      build: op('ReduceMin', { axes: [0], keepdims: 0 }) },
  ],
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

describe('composite gradients', () => {
  // gelu uses Erf, which has no float64 kernel in onnxruntime-node 1.30, so it runs in float32.
  it('gelu [3, 4] float32', async () => {
    const result = await checkGradients({ inputs: [input('x', [3, 4], { dtype: 'float32' })], build: (g, [x]) => [gelu(g, x!)] });
    expect(result.maxError, result.worst).toBeLessThan(TOLERANCE['float32']!);
  });

  it('geluTanh [3, 4] float64', async () => {
    const result = await checkGradients({ inputs: [input('x', [3, 4])], build: (g, [x]) => [geluTanh(g, x!)] });
    expect(result.maxError, result.worst).toBeLessThan(TOLERANCE['float64']!);
  });
});

describe('symbolic batch', () => {
  // The graph declares x and ids with a 'batch' axis, so the rules see symbolic shapes. The
  // unused Split output and the Gather along axis 2 need zeros of a shape known only at run
  // time. The run feeds batch 2, and outputs are summed over the batch to get static shapes.
  it('transformer ops over batch symbol', async () => {
    const inputs = [
      { ...input('x', [2, 3, 4]), graphShape: ['batch', 3, 4] },
      { ...ints('ids', [2, 2], [4, 1, 1, -2]), graphShape: ['batch', 2] },
      input('w', [5, 4]),
      input('scale', [4]),
      input('b', [4]),
    ];
    let graph: Graph | undefined;
    const build = (g: Graph, [x, ids, w, scale, b]: Value[]) => {
      const embedded = g.op('Gather', [w!, ids!]);
      const joined = g.op('Concat', [embedded, x!], { axis: 1 });
      const normalized = g.op('LayerNormalization', [joined, scale!, b!]);
      const [, head, tail] = g.node('Split', [normalized, g.int64s([1, 1, 3])], { axis: 1 }, { outputs: 3 }) as [Value, Value, Value];
      const sliced = g.op('Slice', [tail, g.int64s([1]), bounds(g, [INT64_MAX]), g.int64s([2])]);
      const max = g.op('ReduceMax', [sliced], { axes: [2] });
      const shifted = g.op('Sub', [sliced, g.op('Expand', [max, g.int64s([1, 3, 3])])]);
      const probs = g.op('Softmax', [shifted]);
      const scores = g.op('Trilu', [g.op('MatMul', [head, g.op('Transpose', [head], { perm: [0, 2, 1] })])], { upper: 0 });
      const overBatch = (v: Value) => g.op('ReduceSum', [v, g.int64s([0])], { keepdims: 0 });
      const picked = g.op('Gather', [x!, g.constant(tensor('int64', [3], [3, 0, -1]))], { axis: 2 });
      graph = g;
      return [overBatch(probs), overBatch(scores), overBatch(geluTanh(g, sliced)), overBatch(picked)];
    };
    const result = await checkGradients({ inputs, build });
    expect(graph!.nodes.filter((n) => n.opType === 'Shape').length).toBeGreaterThan(0);
    expect(result.maxError, result.worst).toBeLessThan(TOLERANCE['float64']!);
  });
});

describe('Slice with run-time ends', () => {
  // Position embeddings [6, 3] and a [5, 5] table sliced to the sequence length of x, whose
  // 'seq' axis is known only at run time (the run feeds 4).
  it('parameter prefix on two axes', async () => {
    const inputs = [
      { ...input('x', [2, 4, 3]), graphShape: ['batch', 'seq', 3] },
      input('positions', [6, 3]),
      input('table', [5, 5]),
    ];
    const build = (g: Graph, [x, positions, table]: Value[]) => {
      const seq = g.op('Shape', [x!], { start: 1, end: 2 });
      const embedded = g.op('Add', [x!, g.op('Slice', [positions!, g.int64s([0]), seq, g.int64s([0])])]);
      const square = g.op('Slice', [table!, g.int64s([0, 0]), g.op('Concat', [seq, seq], { axis: 0 })]);
      const mixed = g.op('MatMul', [square, g.op('Tanh', [embedded])]);
      return [g.op('ReduceSum', [mixed, g.int64s([0, 1])], { keepdims: 0 })];
    };
    const result = await checkGradients({ inputs, build });
    expect(result.maxError, result.worst).toBeLessThan(TOLERANCE['float64']!);
  });
});

describe('tied parameter', () => {
  const [vocab, channels, tokens] = [5, 3, 6];
  const wData = Float64Array.from({ length: vocab * channels }, (_, i) => Math.sin(i + 1));
  const idsData = BigInt64Array.from([1, 3, 1, 4, 0, 1], BigInt);
  const labelsData = BigInt64Array.from([3, 1, 4, 0, 2, 1], BigInt);

  /** GPT-style tied embeddings: W embeds the ids and, transposed, projects back to logits. */
  const lossOf = (g: Graph, embedding: Value, projection: Value, ids: Value, labels: Value) => {
    const hidden = g.op('Tanh', [g.op('Gather', [embedding, ids])]);
    const logits = g.op('Gemm', [hidden, projection], { transB: 1 });
    return g.op('SoftmaxCrossEntropyLoss', [logits, labels]);
  };

  it('should match finite differences of the whole loss', async () => {
    const result = await checkGradients({
      inputs: [input('w', [vocab, channels]), ints('ids', [tokens], [...idsData].map(Number)), ints('labels', [tokens], [...labelsData].map(Number))],
      build: (g, [w, ids, labels]) => [lossOf(g, w!, w!, ids!, labels!)],
    });
    expect(result.maxError, result.worst).toBeLessThan(TOLERANCE['float64']!);
  });

  it('should equal the sum of the per-use gradients', async () => {
    const g = new Graph();
    const w = g.input('w', 'float64', [vocab, channels]);
    const wEmbed = g.input('w_embed', 'float64', [vocab, channels]);
    const wProject = g.input('w_project', 'float64', [vocab, channels]);
    const ids = g.input('ids', 'int64', [tokens]);
    const labels = g.input('labels', 'int64', [tokens]);
    const [dTied] = buildGradients(g, { loss: lossOf(g, w, w, ids, labels), wrt: [w] });
    const [dEmbed, dProject] = buildGradients(g, { loss: lossOf(g, wEmbed, wProject, ids, labels), wrt: [wEmbed, wProject] });
    g.output(dTied!, 'd_tied');
    g.output(dEmbed!, 'd_embed');
    g.output(dProject!, 'd_project');

    const session = await ort.InferenceSession.create(serializeModel(g));
    const weights = () => new ort.Tensor('float64', wData.slice(), [vocab, channels]);
    const out = await session.run({
      w: weights(),
      w_embed: weights(),
      w_project: weights(),
      ids: new ort.Tensor('int64', idsData, [tokens]),
      labels: new ort.Tensor('int64', labelsData, [tokens]),
    });
    await session.release();
    const [tied, embed, project] = ['d_tied', 'd_embed', 'd_project'].map((k) => out[k]!.data as Float64Array);
    // Both uses contribute, so neither per-use gradient alone equals the tied one.
    expect(embed!.some((v) => v !== 0)).toBe(true);
    expect(project!.some((v) => v !== 0)).toBe(true);
    tied!.forEach((v, i) => expect(Math.abs(v - (embed![i]! + project![i]!))).toBeLessThan(1e-9));
  });
});
