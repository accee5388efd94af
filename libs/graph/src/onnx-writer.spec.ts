import * as ort from 'onnxruntime-node';
import { onnx } from '@ringtrain/proto';
import { describe, expect, it } from 'vitest';
import { Graph } from './graph.js';
import { serializeModel, toModelProto } from './onnx-writer.js';
import { tensor } from './tensor.js';

/** y = relu(x @ w^T + b) with w and b as initializers and a symbolic batch. */
function linearRelu(): Graph {
  const g = new Graph('linear');
  const x = g.input('input', 'float32', ['batch', 3]);
  const w = g.initializer('w', tensor('float32', [2, 3], [1, 0, -1, 0.5, 0.5, 0.5]));
  const b = g.initializer('b', tensor('float32', [2], [0.25, -10]));
  g.output(g.op('Relu', [g.op('Gemm', [x, w, b], { transB: 1 })]), 'y');
  return g;
}

describe('serializeModel', () => {
  it('should write IR 8, opset 17, dim_param and metadata', () => {
    const proto = toModelProto(linearRelu(), { metadata: { vocab: '["a"]' } });
    expect(proto.irVersion).toBe(8);
    expect(proto.opsetImport).toEqual([{ domain: '', version: 17 }]);
    expect(proto.graph?.input[0]?.type?.tensorType?.shape?.dim[0]?.dimParam).toBe('batch');
    expect(proto.graph?.input[0]?.type?.tensorType?.shape?.dim[1]?.dimValue).toBe(3);
    expect(proto.metadataProps).toEqual([{ key: 'vocab', value: '["a"]' }]);
  });

  it('should leave out absent trailing inputs, which onnxruntime cannot run as empty names', async () => {
    const g = new Graph('norm');
    const x = g.input('x', 'float32', [2, 4]);
    const scale = g.initializer('scale', tensor('float32', [4], [1, 2, 3, 4]));
    g.output(g.op('LayerNormalization', [x, scale, undefined], { epsilon: 1e-5 }), 'y');
    const bytes = serializeModel(g);
    expect(onnx.ModelProto.decode(bytes).graph!.node[0]!.input).toEqual(['x', 'scale']);
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 0, 0, 0, 8]), [2, 4]) });
    expect(out['y']!.dims).toEqual([2, 4]);
  });

  it('should write initializers as little-endian raw_data', () => {
    const proto = toModelProto(linearRelu());
    const w = proto.graph!.initializer[0]!;
    expect(w.dataType).toBe(onnx.TensorProto_DataType.FLOAT);
    expect(w.dims).toEqual([2, 3]);
    expect(w.rawData.length).toBe(24);
    expect(w.rawData.readFloatLE(12)).toBe(0.5);
    expect(w.floatData).toEqual([]);
  });

  it('should load in onnxruntime and compute relu(x w^T + b) for batch 2', async () => {
    const session = await ort.InferenceSession.create(serializeModel(linearRelu()));
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['y']);
    const input = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const { y } = await session.run({ input });
    expect(y!.dims).toEqual([2, 2]);
    expect(Array.from(y!.data as Float32Array)).toEqual([0, 0, 0, 0]);
    const positive = new ort.Tensor('float32', Float32Array.from([3, 0, 1, 20, 20, 20]), [2, 3]);
    const out = await session.run({ input: positive });
    expect(Array.from(out['y']!.data as Float32Array)).toEqual([2.25, 0, 0.25, 20]);
    await session.release();
  });

  it('should write int64, bool and float64 constants that onnxruntime reads', async () => {
    const g = new Graph();
    const x = g.input('x', 'float64', [2, 3]);
    const flat = g.op('Reshape', [x, g.int64s([6])]);
    const keep = g.constant(tensor('bool', [6], [1, 0, 1, 0, 1, 0]));
    const zero = g.scalar(0, 'float64');
    g.output(g.op('Where', [keep, g.op('Add', [flat, g.scalar(0.5, 'float64')]), zero]), 'y');
    const session = await ort.InferenceSession.create(serializeModel(g));
    const { y } = await session.run({ x: new ort.Tensor('float64', Float64Array.from([1, 2, 3, 4, 5, 6]), [2, 3]) });
    expect(Array.from(y!.data as Float64Array)).toEqual([1.5, 0, 3.5, 0, 5.5, 0]);
    await session.release();
  });

  it('BAD CALL - graph without outputs', () => {
    const g = new Graph('empty');
    g.input('x', 'float32', [1]);
    expect(() => serializeModel(g)).toThrow(/graph 'empty' has no outputs/);
  });
});
