import { describe, expect, it } from 'vitest';
import { Graph } from './graph.js';
import { ShapeError } from './shape.js';
import { tensor } from './tensor.js';

describe('Graph', () => {
  it('should infer Gemm [batch, 784] x [800, 784]^T + [800]', () => {
    const g = new Graph();
    const x = g.input('input', 'float32', ['batch', 784]);
    const w = g.input('w', 'float32', [800, 784]);
    const b = g.input('b', 'float32', [800]);
    const y = g.op('Gemm', [x, w, b], { transB: 1 });
    expect(y.shape).toEqual(['batch', 800]);
    expect(y.dtype).toBe('float32');
    expect(y.producer?.attributes['transB']).toEqual({ type: 'int', value: 1 });
  });

  it('should give nodes and values unique names', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2]);
    const a = g.op('Relu', [x]);
    const b = g.op('Relu', [a]);
    expect(a.name).toBe('relu');
    expect(b.name).toBe('relu_1');
    expect(g.constant(tensor('float32', [], [1])).name).toBe('const');
    expect(g.constant(tensor('float32', [], [1])).name).toBe('const_1');
  });

  it('EXPECTED FAILURE - MatMul [2, 3] x [4, 5]', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [2, 3]);
    const b = g.input('b', 'float32', [4, 5]);
    let error: unknown;
    try {
      g.op('MatMul', [a, b], {}, { name: 'proj' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ShapeError);
    const message = (error as Error).message;
    expect(message).toContain("MatMul node 'proj'");
    expect(message).toContain('[2, 3] x [4, 5]');
    expect(message).toContain("'b' float32 [4, 5]");
  });

  it('EXPECTED FAILURE - unknown attribute lists the known ones', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2, 3]);
    expect(() => g.op('Softmax', [x], { axes: [1] })).toThrow(/no attribute 'axes'; it takes axis/);
  });

  it('EXPECTED FAILURE - float attribute given a string', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [2, 2]);
    expect(() => g.op('Gemm', [a, a], { alpha: 'x' })).toThrow(/attribute 'alpha'.*expected a number/);
  });

  it('EXPECTED FAILURE - op without a schema and without outputTypes', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2]);
    expect(() => g.op('Foo', [x])).toThrow(/no shape inference for op 'Foo' \(node 'foo'\)/);
  });

  it('should accept an op without a schema when outputTypes are given', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2]);
    const y = g.op('Foo', [x], { k: { type: 'int', value: 2 } }, {
      domain: 'com.example',
      outputTypes: [{ dtype: 'float32', shape: [4] }],
    });
    expect(y.shape).toEqual([4]);
  });

  it('EXPECTED FAILURE - value from another graph', () => {
    const other = new Graph('other').input('x', 'float32', [1]);
    expect(() => new Graph().op('Relu', [other])).toThrow(/not in this graph/);
  });

  it('EXPECTED FAILURE - duplicate input name', () => {
    const g = new Graph();
    g.input('x', 'float32', [1]);
    expect(() => g.input('x', 'float32', [1])).toThrow(/'x' is already used/);
  });

  it('should name an output through Identity', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [1]);
    const out = g.output(g.op('Relu', [x]), 'y');
    expect(out.name).toBe('y');
    expect(out.producer?.opType).toBe('Identity');
    expect(g.outputs).toEqual([out]);
  });
});

describe('shape inference', () => {
  const g = new Graph();
  const x = g.input('x', 'float32', ['batch', 1, 28, 28]);
  const m = g.input('m', 'float32', [2, 3, 4]);

  it('should reshape [batch, 1, 28, 28] with [-1, 784] to [batch, 784]', () => {
    expect(g.op('Reshape', [x, g.int64s([-1, 784])]).shape).toEqual(['batch', 784]);
  });

  it('should reshape with 0 copying a dimension', () => {
    expect(g.op('Reshape', [m, g.int64s([0, -1])]).shape).toEqual([2, 12]);
  });

  it('should reshape with a shape from Shape', () => {
    const y = g.op('Flatten', [x]);
    expect(y.shape).toEqual(['batch', 784]);
    expect(g.op('Reshape', [y, g.op('Shape', [x])]).shape).toEqual(['batch', 1, 28, 28]);
  });

  it('EXPECTED FAILURE - reshape [2, 3, 4] to [5, -1]', () => {
    expect(() => g.op('Reshape', [m, g.int64s([5, -1])])).toThrow(/cannot reshape \[2, 3, 4\]/);
  });

  it('EXPECTED FAILURE - Reshape with a shape known only at run time', () => {
    const shape = g.input('runtime_shape', 'int64', [2]);
    expect(() => g.op('Reshape', [m, shape])).toThrow(/must be a constant or come from Shape/);
  });

  it('should infer reductions, ArgMax and Transpose', () => {
    expect(g.op('ReduceSum', [m, g.int64s([1])], { keepdims: 0 }).shape).toEqual([2, 4]);
    expect(g.op('ReduceSum', [m]).shape).toEqual([1, 1, 1]);
    expect(g.op('ReduceMean', [m], { axes: [-1] }).shape).toEqual([2, 3, 1]);
    const arg = g.op('ArgMax', [m], { axis: 2, keepdims: 0 });
    expect([arg.dtype, arg.shape]).toEqual(['int64', [2, 3]]);
    expect(g.op('Transpose', [m], { perm: [2, 0, 1] }).shape).toEqual([4, 2, 3]);
    expect(g.op('Transpose', [m]).shape).toEqual([4, 3, 2]);
  });

  it('should infer batched MatMul [2, 3, 4] x [4, 5]', () => {
    const w = g.input('w45', 'float32', [4, 5]);
    expect(g.op('MatMul', [m, w]).shape).toEqual([2, 3, 5]);
  });

  it('should infer Concat, Split, Unsqueeze, Squeeze and Gather', () => {
    expect(g.op('Concat', [m, m], { axis: 1 }).shape).toEqual([2, 6, 4]);
    const parts = g.node('Split', [m, g.int64s([1, 3])], { axis: 2 }, { outputs: 2 });
    expect(parts.map((p) => p.shape)).toEqual([[2, 3, 1], [2, 3, 3]]);
    const u = g.op('Unsqueeze', [m, g.int64s([0, -1])]);
    expect(u.shape).toEqual([1, 2, 3, 4, 1]);
    expect(g.op('Squeeze', [u, g.int64s([0])]).shape).toEqual([2, 3, 4, 1]);
    const idx = g.input('idx', 'int64', ['batch', 7]);
    expect(g.op('Gather', [m, idx], { axis: 1 }).shape).toEqual([2, 'batch', 7, 4]);
  });

  it('should infer Slice with an open end', () => {
    const y = g.op('Slice', [m, g.int64s([1]), g.int64s([2 ** 62]), g.int64s([2])]);
    expect(y.shape).toEqual([2, 3, 3]);
  });

  it('should store 2 ** 63 as the largest int64', () => {
    const end = g.int64s([2 ** 63]);
    expect((end.data!.data as BigInt64Array)[0]).toBe(2n ** 63n - 1n);
  });

  it('should infer ScatterND and Pad', () => {
    const rows = g.input('rows', 'int64', ['batch', 7, 1]);
    const updates = g.input('updates', 'float32', ['batch', 7, 3, 4]);
    expect(g.op('ScatterND', [m, rows, updates], { reduction: 'add' }).shape).toEqual([2, 3, 4]);
    expect(g.op('Pad', [m, g.int64s([0, 1, 0, 0, 2, -1])]).shape).toEqual([2, 6, 3]);
  });

  it('EXPECTED FAILURE - ScatterND updates of the wrong shape', () => {
    const rows = g.input('rows2', 'int64', [5, 1]);
    const updates = g.input('updates2', 'float32', [5, 4]);
    expect(() => g.op('ScatterND', [m, rows, updates])).toThrow(/updates must have shape \[5, 3, 4\], got \[5, 4\]/);
  });

  it('EXPECTED FAILURE - Pad of a symbolic axis', () => {
    const x = g.input('px', 'float32', ['batch', 4]);
    expect(() => g.op('Pad', [x, g.int64s([1, 0, 0, 0])])).toThrow(/cannot pad symbolic axis 0 \('batch'\)/);
  });

  it('should infer SoftmaxCrossEntropyLoss and Dropout outputs', () => {
    const scores = g.input('scores', 'float32', ['batch', 10]);
    const labels = g.input('labels', 'int64', ['batch']);
    const [loss, logProb] = g.node('SoftmaxCrossEntropyLoss', [scores, labels], { reduction: 'sum' }, { outputs: 2 });
    expect(loss!.shape).toEqual([]);
    expect(logProb!.shape).toEqual(['batch', 10]);
    const none = g.op('SoftmaxCrossEntropyLoss', [scores, labels], { reduction: 'none' });
    expect(none.shape).toEqual(['batch']);
    const [out, mask] = g.node('Dropout', [scores], {}, { outputs: 2 });
    expect(out!.shape).toEqual(['batch', 10]);
    expect(mask!.dtype).toBe('bool');
  });

  it('EXPECTED FAILURE - labels that do not match scores', () => {
    const scores = g.input('s2', 'float32', [4, 10]);
    const labels = g.input('l2', 'int64', [5]);
    expect(() => g.op('SoftmaxCrossEntropyLoss', [scores, labels])).toThrow(/need labels of shape/);
  });

  it('EXPECTED FAILURE - Gemm inner dimensions', () => {
    const a = g.input('ga', 'float32', [3, 4]);
    expect(() => g.op('Gemm', [a, a])).toThrow(/Gemm node 'gemm.*inner dimensions differ: 4 against 3/);
  });

  it('EXPECTED FAILURE - Add of float32 and float64', () => {
    const d = g.input('d', 'float64', [2, 3, 4]);
    expect(() => g.op('Add', [m, d])).toThrow(/share one dtype/);
  });
});

describe('quantisation op schemas', () => {
  const g = new Graph();
  const x = g.input('x', 'float32', ['batch', 4]);

  it('infers QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear', () => {
    const scale = g.input('scale', 'float32', [4]);
    const zeroPoint = g.constant(tensor('int8', [4], [0, 0, 0, 0]));
    const q = g.op('QuantizeLinear', [x, scale, zeroPoint], { axis: 1 });
    expect([q.dtype, q.shape]).toEqual(['int8', ['batch', 4]]);
    expect(g.op('QuantizeLinear', [x, g.scalar(0.5, 'float32')]).dtype).toBe('uint8');
    const y = g.op('DequantizeLinear', [q, scale, zeroPoint], { axis: 1 });
    expect([y.dtype, y.shape]).toEqual(['float32', ['batch', 4]]);
    const outputs = g.node('DynamicQuantizeLinear', [x]);
    expect(outputs.map((v) => [v.dtype, v.shape])).toEqual([['uint8', ['batch', 4]], ['float32', []], ['uint8', []]]);
  });

  it('EXPECTED FAILURE - per-axis scale of another size', () => {
    const scale = g.input('scale3', 'float32', [3]);
    expect(() => g.op('QuantizeLinear', [x, scale], { axis: 1 })).toThrow(ShapeError);
    expect(() => g.op('QuantizeLinear', [x, scale], { axis: 1 })).toThrow(/per-axis scale 'scale3' \[3\] must have the size of axis 1 of \[batch, 4\]/);
  });

  it('EXPECTED FAILURE - zero point of another type', () => {
    const q = g.op('QuantizeLinear', [x, g.scalar(0.5, 'float32')]);
    const zeroPoint = g.constant(tensor('int8', [], [0]));
    expect(() => g.op('DequantizeLinear', [q, g.scalar(0.5, 'float32'), zeroPoint])).toThrow(/zero point is int8 but input '.*' is uint8/);
  });
});
