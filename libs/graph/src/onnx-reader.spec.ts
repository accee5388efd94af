import * as ort from 'onnxruntime-node';
import { onnx } from '@ringtrain/proto';
import { describe, expect, it } from 'vitest';
import { Graph } from './graph.js';
import { OnnxFormatError, parseModel } from './onnx-reader.js';
import { serializeModel } from './onnx-writer.js';
import { ShapeError } from './shape.js';
import { tensor } from './tensor.js';

const T = onnx.TensorProto_DataType;
const A = onnx.AttributeProto_AttributeType;

function valueInfo(name: string, dims: (number | string)[]): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.fromPartial({
    name,
    type: {
      tensorType: {
        elemType: T.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

/**
 * A 4-3-2 MLP laid out the way torch.onnx.export writes nn.Sequential(Linear, ReLU, Linear) at
 * opset 17: '/0/Gemm' node names, float attributes alpha and beta, a Flatten in front, weights
 * in raw_data except one bias in float_data, and IR version 7.
 */
function pytorchStyleMlp(): Uint8Array {
  const raw = (values: number[]) => Buffer.from(new Float32Array(values).buffer);
  const gemm = (name: string, inputs: string[], output: string): onnx.NodeProto =>
    onnx.NodeProto.fromPartial({
      name,
      opType: 'Gemm',
      input: inputs,
      output: [output],
      attribute: [
        { name: 'alpha', type: A.FLOAT, f: 1 },
        { name: 'beta', type: A.FLOAT, f: 1 },
        { name: 'transB', type: A.INT, i: 1 },
      ],
    });
  return onnx.ModelProto.encode(
    onnx.ModelProto.fromPartial({
      irVersion: 7,
      producerName: 'pytorch',
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'main_graph',
        input: [valueInfo('input', ['batch_size', 4])],
        output: [valueInfo('logits', ['batch_size', 2])],
        initializer: [
          { name: '0.weight', dims: [3, 4], dataType: T.FLOAT, rawData: raw([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, -1]) },
          { name: '0.bias', dims: [3], dataType: T.FLOAT, floatData: [0, 0, -0.5] },
          { name: '2.weight', dims: [2, 3], dataType: T.FLOAT, rawData: raw([1, 1, 0, 0, 0, 2]) },
          { name: '2.bias', dims: [2], dataType: T.FLOAT, rawData: raw([0.5, 0]) },
        ],
        node: [
          { name: '/Flatten', opType: 'Flatten', input: ['input'], output: ['/Flatten_output_0'], attribute: [{ name: 'axis', type: A.INT, i: 1 }] },
          gemm('/0/Gemm', ['/Flatten_output_0', '0.weight', '0.bias'], '/0/Gemm_output_0'),
          { name: '/1/Relu', opType: 'Relu', input: ['/0/Gemm_output_0'], output: ['/1/Relu_output_0'] },
          gemm('/2/Gemm', ['/1/Relu_output_0', '2.weight', '2.bias'], 'logits'),
        ],
      },
    }),
  ).finish();
}

describe('parseModel', () => {
  it('should read a PyTorch-style Gemm/Relu MLP with its shapes', () => {
    const { graph, opset, producerName } = parseModel(pytorchStyleMlp());
    expect(opset).toBe(17);
    expect(producerName).toBe('pytorch');
    expect(graph.inputs.map((v) => [v.name, v.shape])).toEqual([['input', ['batch_size', 4]]]);
    expect(graph.initializers.map((v) => v.name)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(Array.from(graph.initializers[1]!.data!.data as Float32Array)).toEqual([0, 0, -0.5]);
    expect(graph.nodes.map((n) => n.opType)).toEqual(['Flatten', 'Gemm', 'Relu', 'Gemm']);
    expect(graph.nodes[1]!.attributes['alpha']).toEqual({ type: 'float', value: 1 });
    expect(graph.outputs[0]!.name).toBe('logits');
    expect(graph.outputs[0]!.shape).toEqual(['batch_size', 2]);
  });

  it('should write back a model that computes what the original computes', async () => {
    const original = pytorchStyleMlp();
    const rewritten = serializeModel(parseModel(original).graph);
    const input = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, -1, -2, 0.5, 0.25]), [2, 4]);
    const outputs: Float32Array[] = [];
    for (const bytes of [original, rewritten]) {
      const session = await ort.InferenceSession.create(bytes);
      outputs.push((await session.run({ input }))['logits']!.data as Float32Array);
      await session.release();
    }
    expect(Array.from(outputs[1]!)).toEqual(Array.from(outputs[0]!));
    expect(Array.from(outputs[0]!)).toEqual([3.5, 0, 0.5, 0]);
  });

  it('should round-trip metadata, attributes, optional inputs and int64 constants', () => {
    const g = new Graph('round');
    const x = g.input('x', 'float32', ['batch', 6]);
    const r = g.op('Reshape', [x, g.int64s([-1, 2, 3])]);
    const [y, mask] = g.node('Dropout', [r, undefined, g.constant(tensor('bool', [], [0]), 'mode')], { seed: 3 }, { outputs: 2 });
    const s = g.op('Softmax', [y!], { axis: 2 });
    g.output(s, 'probs');
    g.output(mask!, 'mask');
    const parsed = parseModel(serializeModel(g, { metadata: { vocab: '["x","y"]' } }));
    expect(parsed.metadata).toEqual({ vocab: '["x","y"]' });
    const back = parsed.graph;
    expect(back.nodes.map((n) => n.opType)).toEqual(['Reshape', 'Dropout', 'Softmax', 'Identity', 'Identity']);
    // An absent input before a present one stays in place.
    expect(back.nodes[1]!.inputs.map((v) => v?.name)).toEqual([r.name, undefined, 'mode']);
    expect(back.nodes[1]!.attributes['seed']).toEqual({ type: 'int', value: 3 });
    expect(back.outputs.map((o) => [o.name, o.dtype, o.shape])).toEqual([
      ['probs', 'float32', ['batch', 2, 3]],
      ['mask', 'bool', ['batch', 2, 3]],
    ]);
    expect(Array.from(back.initializers[0]!.data!.data as BigInt64Array)).toEqual([-1n, 2n, 3n]);
  });

  it('should round-trip float64 and float16 initializers bit for bit', () => {
    const g = new Graph();
    const a = g.initializer('a', tensor('float64', [2], [Math.PI, -1e-300]));
    const h = g.initializer('h', tensor('float16', [3], [0x3c00, 0xc000, 0x7bff]));
    g.output(a);
    g.output(h);
    const back = parseModel(serializeModel(g)).graph;
    expect(Array.from(back.initializers[0]!.data!.data as Float64Array)).toEqual([Math.PI, -1e-300]);
    expect(Array.from(back.initializers[1]!.data!.data as Uint16Array)).toEqual([0x3c00, 0xc000, 0x7bff]);
  });

  it('EXPECTED FAILURE - opset 18', () => {
    const bytes = onnx.ModelProto.encode(
      onnx.ModelProto.fromPartial({ irVersion: 8, opsetImport: [{ domain: '', version: 18 }], graph: {} }),
    ).finish();
    expect(() => parseModel(bytes)).toThrow(OnnxFormatError);
    expect(() => parseModel(bytes)).toThrow(/opset 18.*re-export it with opset 17/);
  });

  it('EXPECTED FAILURE - unsupported op names the op and node', () => {
    const bytes = onnx.ModelProto.encode(
      onnx.ModelProto.fromPartial({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 17 }],
        graph: {
          input: [valueInfo('x', [1, 2])],
          output: [valueInfo('y', [1, 2])],
          node: [{ name: 'fancy', opType: 'NonMaxSuppression', input: ['x'], output: ['y'] }],
        },
      }),
    ).finish();
    expect(() => parseModel(bytes)).toThrow(ShapeError);
    expect(() => parseModel(bytes)).toThrow(/op 'NonMaxSuppression' \(node 'fancy'\)/);
  });

  it('EXPECTED FAILURE - raw_data of the wrong length', () => {
    const bytes = onnx.ModelProto.encode(
      onnx.ModelProto.fromPartial({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 17 }],
        graph: { initializer: [{ name: 'w', dims: [2, 2], dataType: T.FLOAT, rawData: Buffer.alloc(12) }] },
      }),
    ).finish();
    expect(() => parseModel(bytes)).toThrow(/'w' has 12 bytes of raw_data, expected 16/);
  });

  it('EXPECTED FAILURE - bytes that are not a model', () => {
    expect(() => parseModel(Uint8Array.from([0xff, 0xff, 0xff]))).toThrow(OnnxFormatError);
  });
});
