import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { onnx } from './index.js';

describe('onnx ModelProto', () => {
  it('encodes a model that onnxruntime loads and runs', async () => {
    const floatTensor = (name: string, dims: number[]): onnx.ValueInfoProto => ({
      name,
      docString: '',
      type: {
        denotation: '',
        tensorType: {
          elemType: onnx.TensorProto_DataType.FLOAT,
          shape: { dim: dims.map((d) => ({ dimValue: d, denotation: '' })) },
        },
      },
    });
    const model = onnx.ModelProto.fromPartial({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 'ringtrain-test',
      graph: {
        name: 'add',
        node: [{ opType: 'Add', input: ['a', 'b'], output: ['c'], name: 'add0' }],
        input: [floatTensor('a', [2]), floatTensor('b', [2])],
        output: [floatTensor('c', [2])],
      },
    });
    const bytes = onnx.ModelProto.encode(model).finish();
    const session = await ort.InferenceSession.create(bytes);
    const feeds = {
      a: new ort.Tensor('float32', Float32Array.from([1, 2]), [2]),
      b: new ort.Tensor('float32', Float32Array.from([10, 20]), [2]),
    };
    const out = await session.run(feeds);
    expect(Array.from(out['c']!.data as Float32Array)).toEqual([11, 22]);
    await session.release();
  });

  it('decodes what it encodes', () => {
    const model = onnx.ModelProto.fromPartial({
      irVersion: 8,
      metadataProps: [{ key: 'vocab', value: '["a","b"]' }],
      graph: { initializer: [{ name: 'w', dims: [2, 3], dataType: onnx.TensorProto_DataType.FLOAT }] },
    });
    const back = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
    expect(back.graph?.initializer[0]?.dims).toEqual([2, 3]);
    expect(back.metadataProps[0]?.value).toBe('["a","b"]');
  });
});
