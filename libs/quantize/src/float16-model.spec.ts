import { readTensor } from '@ringtrain/graph';
import { onnx } from '@ringtrain/proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { gptInferenceModel, gptParameters, initParameters, mlpInferenceModel, mlpParameters, type GptConfig, type MlpConfig } from '@ringtrain/models';
import { toFloat16Bits } from './float16.js';
import { convertToFloat16 } from './float16-model.js';
import { optimizedGraph } from './fusion-check.js';
import { firstOutput, relativeError } from './testing/model-outputs.js';

const MLP: MlpConfig = { inputSize: 784, hidden: [256, 128], classes: 10 };
const GPT: GptConfig = { nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 16, vocabSize: 11 };

const weights = (bytes: Uint8Array) => new Map(onnx.ModelProto.decode(bytes).graph!.initializer.map((t) => [t.name, t]));

describe('convertToFloat16', () => {
  const mlp = mlpInferenceModel(MLP, initParameters(mlpParameters(MLP), 3));
  const gpt = gptInferenceModel(GPT, initParameters(gptParameters(GPT), 4), { vocab: '["a"]' });
  const pixels = new ort.Tensor('float32', Float32Array.from({ length: 8 * 784 }, (_, i) => ((i * 7919) % 256) / 255), [8, 784]);
  const idx = new ort.Tensor('int64', BigInt64Array.from({ length: 32 }, (_, i) => BigInt((i * 5) % 11)), [2, 16]);

  it('MLP: half the size, float32 input and logits, outputs within 1e-3', async () => {
    const f16 = convertToFloat16(mlp);
    expect(f16.converted.map((w) => w.name)).toEqual(['fc0.weight', 'fc0.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    expect(f16.bytes.length / mlp.length, 'size ratio').toBeLessThan(0.51);
    const got = await firstOutput(f16.bytes, { input: pixels });
    expect(got.type).toBe('float32');
    expect(got.dims).toEqual([8, 10]);
    // Tolerance: float16 keeps 11 significant bits, so each weight moves by at most 2^-11 of itself.
    expect(relativeError(got.data as Float32Array, (await firstOutput(mlp, { input: pixels })).data as Float32Array)).toBeLessThan(1e-3);
  });

  it('stores each weight as its float16 rounding, read back through a Cast', () => {
    const f16 = convertToFloat16(mlp);
    const stored = weights(f16.bytes).get('fc1.weight/float16')!;
    expect(stored.dataType).toBe(onnx.TensorProto_DataType.FLOAT16);
    const original = readTensor(weights(mlp).get('fc1.weight')!).data as Float32Array;
    expect(readTensor(stored).data).toEqual(Uint16Array.from(original, toFloat16Bits));
    expect(f16.converted.find((w) => w.name === 'fc1.weight')!.maxError).toBeLessThanOrEqual(0.1 * 2 ** -11);
    const cast = onnx.ModelProto.decode(f16.bytes).graph!.node.find((n) => n.output[0] === 'fc1.weight')!;
    expect(cast.opType).toBe('Cast');
  });

  it('onnxruntime folds the Casts when it loads the model', async () => {
    const ops = (await optimizedGraph(convertToFloat16(mlp).bytes)).node.map((n) => n.opType);
    expect(ops).not.toContain('Cast');
  });

  it('GPT: keeps scalars and the -1e9 causal mask in float32, and its metadata', async () => {
    const f16 = convertToFloat16(gpt);
    const kept = new Map(f16.kept.map((k) => [k.name, k.reason]));
    expect(kept.get('gelu_half')).toMatch(/single value/);
    expect(kept.get('causal_bias')).toMatch(/beyond float16's range of ±65504/);
    expect(f16.converted.map((w) => w.name)).toContain('wte');
    for (const [name, reason] of kept) expect(reason, name).toMatch(/single value|beyond float16's range/);
    expect(onnx.ModelProto.decode(f16.bytes).metadataProps).toEqual(onnx.ModelProto.decode(gpt).metadataProps);
    expect(onnx.ModelProto.decode(f16.bytes).metadataProps).toContainEqual({ key: 'vocab', value: '["a"]' });
    expect(f16.bytes.length / gpt.length).toBeLessThan(0.56);
    const got = (await firstOutput(f16.bytes, { idx })).data as Float32Array;
    expect(relativeError(got, (await firstOutput(gpt, { idx })).data as Float32Array)).toBeLessThan(2e-3);
  });

  it('keeps the weights of excluded nodes in float32', () => {
    const f16 = convertToFloat16(mlp, { exclude: ['fc2'] });
    expect(f16.kept.filter((k) => k.name.startsWith('fc2'))).toEqual([
      { name: 'fc2.weight', reason: 'a node that is not chosen reads it' },
      { name: 'fc2.bias', reason: 'a node that is not chosen reads it' },
    ]);
    expect(() => convertToFloat16(mlp, { include: ['fc7'] })).toThrow(/no node named 'fc7'/);
  });
});
