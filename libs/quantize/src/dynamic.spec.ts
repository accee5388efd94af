import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onnx } from '@ringtrain/proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { gptInferenceModel, gptParameters, initParameters, mlpInferenceModel, mlpParameters, type GptConfig, type MlpConfig } from '@ringtrain/models';
import { quantizeDynamic } from './dynamic.js';
import { relativeError, runModel } from './testing/model-outputs.js';

const MLP: MlpConfig = { inputSize: 784, hidden: [256, 128], classes: 10 };
const GPT: GptConfig = { nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 16, vocabSize: 11 };

const pixels = new ort.Tensor('float32', Float32Array.from({ length: 8 * 784 }, (_, i) => ((i * 7919) % 256) / 255), [8, 784]);

describe('quantizeDynamic', () => {
  const mlpBytes = mlpInferenceModel(MLP, initParameters(mlpParameters(MLP), 3));

  it('MLP: every Gemm, close to float, smaller', async () => {
    for (const perChannel of [true, false]) {
      const q = quantizeDynamic(mlpBytes, { perChannel });
      expect(q.quantized.map((n) => n.node)).toEqual(['fc0', 'fc1', 'fc2']);
      expect(q.quantized[0]!.shape).toEqual([784, 256]);
      expect(q.skipped).toEqual([]);
      expect(q.bytes.length / mlpBytes.length, 'size ratio').toBeLessThan(0.27);
      const err = relativeError(await runModel(q.bytes, { input: pixels }), await runModel(mlpBytes, { input: pixels }));
      expect(err, `relative error, perChannel ${perChannel}`).toBeLessThan(0.03);
    }
  });

  it('keeps the attention products and a tied head in float, with reasons', async () => {
    const bytes = gptInferenceModel(GPT, initParameters(gptParameters(GPT), 4));
    const q = quantizeDynamic(bytes);
    const per = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];
    expect(q.quantized.map((n) => n.node)).toEqual([0, 1].flatMap((l) => per.map((p) => `h${l}.${p}/matmul`)));
    const skipped = new Map(q.skipped.map((s) => [s.node, s.reason]));
    expect(skipped.get('h0.attn/scores')).toMatch(/computed, not a stored weight/);
    expect(skipped.get('lm_head')).toMatch(/computed, not a stored weight/);
    const idx = new ort.Tensor('int64', BigInt64Array.from({ length: 32 }, (_, i) => BigInt((i * 5) % 11)), [2, 16]);
    const err = relativeError(await runModel(q.bytes, { idx }), await runModel(bytes, { idx }));
    expect(err).toBeLessThan(0.05);
  });

  it('becomes one fused integer kernel per layer in onnxruntime', async () => {
    const optimized = join(mkdtempSync(join(tmpdir(), 'ringtrain-quantize-')), 'optimized.onnx');
    const session = await ort.InferenceSession.create(quantizeDynamic(mlpBytes).bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, logSeverityLevel: 3 });
    await session.release();
    const ops = onnx.ModelProto.decode(readFileSync(optimized)).graph!.node.map((n) => n.opType);
    expect(ops.filter((op) => op === 'DynamicQuantizeMatMul')).toHaveLength(3);
    expect(ops).not.toContain('MatMulInteger');
  });

  it('quantises only the nodes chosen by name', () => {
    expect(quantizeDynamic(mlpBytes, { include: ['fc1'] }).quantized.map((n) => n.node)).toEqual(['fc1']);
    expect(quantizeDynamic(mlpBytes, { exclude: ['fc0'] }).quantized.map((n) => n.node)).toEqual(['fc1', 'fc2']);
  });

  it('leaves Conv in float and quantises the Gemm of a PyTorch CNN', async () => {
    const bytes = readFileSync(resolve(import.meta.dirname, '../../../apps/cli/src/testing/fixtures/torch-cnn-teacher.onnx'));
    const q = quantizeDynamic(bytes);
    expect(q.quantized.map((n) => n.op)).toEqual(['Gemm']);
    expect(q.skipped).toEqual([{ node: '/0/Conv', op: 'Conv', reason: 'onnxruntime has no fast int8 ConvInteger kernel on CPU' }]);
    const images = new ort.Tensor('float32', pixels.data as Float32Array, [8, 1, 28, 28]);
    expect(relativeError(await runModel(q.bytes, { input: images }), await runModel(bytes, { input: images }))).toBeLessThan(0.05);
  });

  it('EXPECTED FAILURE - a node name the model does not have', () => {
    expect(() => quantizeDynamic(mlpBytes, { include: ['fc9'] })).toThrow(/no node named 'fc9'; node names: .*fc0/);
  });
});
