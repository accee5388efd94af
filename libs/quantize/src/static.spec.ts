import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readTensor } from '@ringtrain/graph';
import { onnx } from '@ringtrain/proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  encoderInferenceModel,
  encoderParameters,
  gptInferenceModel,
  gptParameters,
  initParameters,
  mlpInferenceModel,
  mlpParameters,
  type EncoderConfig,
  type GptConfig,
  type MlpConfig,
} from '@ringtrain/models';
import type { CalibrationBatch } from './calibrate.js';
import { optimizedGraph, UNFUSED_REASON } from './fusion-check.js';
import { quantizeWeight } from './quantize-math.js';
import { quantizeStatic } from './static.js';
import { relativeError, runModel } from './testing/model-outputs.js';

const MLP: MlpConfig = { inputSize: 784, hidden: [256, 128], classes: 10 };
const GPT: GptConfig = { nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 16, vocabSize: 11 };
const ENCODER: EncoderConfig = { nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 16, vocabSize: 20, classes: 2 };

/** Images of `n` samples with pixels in [0, 1], drawn from a hash of (seed, index). */
function pixels(n: number, seed: number): CalibrationBatch {
  const data = Float32Array.from({ length: n * 784 }, (_, i) => (Math.imul(i + 1, 2654435761 + seed * 40503) >>> 24) / 255);
  return { input: new ort.Tensor('float32', data, [n, 784]) };
}

function tokens(n: number, seq: number, vocab: number, seed: number): CalibrationBatch {
  const data = BigInt64Array.from({ length: n * seq }, (_, i) => BigInt((Math.imul(i + 1, 2654435761 + seed * 40503) >>> 16) % vocab));
  return { idx: new ort.Tensor('int64', data, [n, seq]) };
}

async function opTypes(bytes: Uint8Array): Promise<string[]> {
  return (await optimizedGraph(bytes)).node.map((n) => n.opType);
}

const count = (ops: string[], op: string) => ops.filter((o) => o === op).length;

describe('quantizeStatic', () => {
  const mlp = mlpInferenceModel(MLP, initParameters(mlpParameters(MLP), 3));
  const gpt = gptInferenceModel(GPT, initParameters(gptParameters(GPT), 4));
  const mlpCalibration = [pixels(32, 1), pixels(32, 2)];
  const gptCalibration = [tokens(8, 16, 11, 1), tokens(8, 16, 11, 2)];

  it('MLP: every method and weight granularity stays close to float32', async () => {
    const test = pixels(16, 9);
    const want = await runModel(mlp, test);
    for (const method of ['minmax', 'percentile', 'entropy'] as const) {
      for (const perChannel of [true, false]) {
        const q = await quantizeStatic(mlp, mlpCalibration, { method, perChannel });
        const label = `${method}, perChannel ${perChannel}`;
        expect(q.quantized.map((n) => n.node), label).toEqual(['fc0', 'fc1', 'fc2']);
        expect(q.skipped, label).toEqual([]);
        expect(q.bytes.length / mlp.length, `${label}: size ratio`).toBeLessThan(0.27);
        // Tolerance: 3% of the largest logit, as for dynamic quantisation of the same model.
        expect(relativeError(await runModel(q.bytes, test), want), label).toBeLessThan(0.03);
      }
    }
  });

  it('MLP: one fused QGemm per layer', async () => {
    const q = await quantizeStatic(mlp, mlpCalibration);
    const ops = await opTypes(q.bytes);
    expect(count(ops, 'QGemm')).toBe(3);
    expect(ops).not.toContain('DequantizeLinear');
    expect(ops).not.toContain('Gemm');
    // The fused kernels compute what the QDQ graph means, to float32 rounding.
    const test = pixels(16, 9);
    expect(relativeError(await runModel(q.bytes, test, 'all'), await runModel(q.bytes, test, 'disabled'))).toBeLessThan(1e-5);
  });

  it('stores int8 weights, int32 biases and calibrated activation parameters', async () => {
    const q = await quantizeStatic(mlp, mlpCalibration);
    const stored = new Map(onnx.ModelProto.decode(q.bytes).graph!.initializer.map((t) => [t.name, readTensor(t)]));
    expect(stored.has('fc0.weight'), 'float weight removed').toBe(false);
    const weight = readTensor(onnx.ModelProto.decode(mlp).graph!.initializer.find((t) => t.name === 'fc0.weight')!);
    const expected = quantizeWeight(weight.data as Float32Array, [...weight.shape], 0);
    expect(stored.get('fc0/weight/quantized')!.dtype).toBe('int8');
    expect(stored.get('fc0/weight/quantized')!.data).toEqual(expected.values);
    expect(stored.get('fc0/weight/scale')!.data).toEqual(expected.scales);
    expect(stored.get('fc0/bias/quantized')!.dtype).toBe('int32');
    // The first Gemm reads the normalised pixels, whose min-max range sets uint8 parameters.
    const input = q.activations.find((a) => a.tensor === 'normalize')!;
    expect(input.type).toBe('uint8');
    expect(input.min).toBeLessThan(0);
    expect(stored.get('normalize/scale')!.data).toEqual(Float32Array.of(input.scale));
    expect(stored.get('normalize/zero_point')!.data).toEqual(Uint8Array.of(input.zeroPoint));
  });

  it('is deterministic: the same batches give the same bytes', async () => {
    for (const method of ['minmax', 'entropy'] as const) {
      const a = await quantizeStatic(mlp, mlpCalibration, { method });
      const b = await quantizeStatic(mlp, mlpCalibration, { method });
      expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes)), method).toBe(true);
    }
  });

  it('GPT: MatMulIntegerToFloat for the four weight matrices of each block', async () => {
    const test = tokens(4, 16, 11, 9);
    const want = await runModel(gpt, test);
    for (const method of ['minmax', 'percentile', 'entropy'] as const) {
      for (const perChannel of [true, false]) {
        const q = await quantizeStatic(gpt, gptCalibration, { method, perChannel });
        const label = `${method}, perChannel ${perChannel}`;
        const per = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];
        expect(q.quantized.map((n) => n.node), label).toEqual([0, 1].flatMap((l) => per.map((p) => `h${l}.${p}/matmul`)));
        const skipped = new Map(q.skipped.map((s) => [s.node, s.reason]));
        expect(skipped.get('h0.attn/scores'), label).toMatch(/computed, not a stored weight/);
        expect(skipped.get('lm_head'), label).toMatch(/computed, not a stored weight/);
        // Tolerance: 5% of the largest logit, as for dynamic quantisation of the same model.
        expect(relativeError(await runModel(q.bytes, test), want), label).toBeLessThan(0.05);
      }
    }
    const ops = await opTypes((await quantizeStatic(gpt, gptCalibration)).bytes);
    expect(count(ops, 'MatMulIntegerToFloat')).toBe(8);
    expect(ops).not.toContain('DequantizeLinear');
  });

  it('encoder: quantises its weight matrices and keeps its output', async () => {
    const encoder = encoderInferenceModel(ENCODER, initParameters(encoderParameters(ENCODER), 5));
    const q = await quantizeStatic(encoder, [tokens(8, 16, 20, 1)]);
    expect(q.quantized.length).toBeGreaterThanOrEqual(4);
    const ops = await opTypes(q.bytes);
    expect(count(ops, 'MatMulIntegerToFloat') + count(ops, 'QGemm')).toBe(q.quantized.length);
    expect(ops).not.toContain('DequantizeLinear');
    const test = tokens(4, 16, 20, 9);
    expect(relativeError(await runModel(q.bytes, test), await runModel(encoder, test))).toBeLessThan(0.05);
  });

  it('Conv of a PyTorch CNN becomes QLinearConv', async () => {
    const cnn = readFileSync(resolve(import.meta.dirname, '../../../apps/cli/src/testing/fixtures/torch-cnn-teacher.onnx'));
    const images = (seed: number) => ({ input: new ort.Tensor('float32', pixels(16, seed)['input']!.data as Float32Array, [16, 1, 28, 28]) });
    const q = await quantizeStatic(cnn, [images(1), images(2)]);
    expect(q.quantized.map((n) => n.op)).toEqual(['Conv', 'Gemm']);
    const ops = await opTypes(q.bytes);
    expect(count(ops, 'QLinearConv')).toBe(1);
    expect(count(ops, 'QGemm')).toBe(1);
    expect(relativeError(await runModel(q.bytes, images(9)), await runModel(cnn, images(9)))).toBeLessThan(0.05);
  });

  it('symmetric activations: only what onnxruntime fuses is quantised', async () => {
    const q = await quantizeStatic(mlp, mlpCalibration, { activations: 'symmetric' });
    // A Gemm followed by Relu fuses only when the next QuantizeLinear makes the Relu redundant,
    // which needs a zero point equal to the type's minimum. int8 with zero point 0 has -128.
    expect(q.quantized.map((n) => n.node)).toEqual(['fc2']);
    expect(q.skipped).toEqual([
      { node: 'fc0', op: 'Gemm', reason: UNFUSED_REASON },
      { node: 'fc1', op: 'Gemm', reason: UNFUSED_REASON },
    ]);
    expect(q.activations.map((a) => [a.type, a.zeroPoint])).toEqual([['int8', 0]]);
    const ops = await opTypes(q.bytes);
    expect(count(ops, 'QGemm')).toBe(1);
    expect(ops).not.toContain('DequantizeLinear');
    const test = pixels(16, 9);
    expect(relativeError(await runModel(q.bytes, test), await runModel(mlp, test))).toBeLessThan(0.03);
    if (process.arch === 'x64') {
      const g = await quantizeStatic(gpt, gptCalibration, { activations: 'symmetric' });
      expect(g.quantized).toEqual([]);
      expect(g.skipped.find((s) => s.node === 'h0.mlp.c_fc/matmul')!.reason).toMatch(/fuses int8 activations only into QGemm/);
    }
  });

  it('quantises only the nodes chosen by name', async () => {
    expect((await quantizeStatic(mlp, mlpCalibration, { include: ['fc1'] })).quantized.map((n) => n.node)).toEqual(['fc1']);
    const q = await quantizeStatic(mlp, mlpCalibration, { exclude: ['fc0'] });
    expect(q.quantized.map((n) => n.node)).toEqual(['fc1', 'fc2']);
    expect(count(await opTypes(q.bytes), 'QGemm')).toBe(2);
  });

  it('EXPECTED FAILURE - a node name the model does not have', async () => {
    await expect(quantizeStatic(mlp, mlpCalibration, { exclude: ['fc9'] })).rejects.toThrow(/no node named 'fc9'; node names: .*fc0/);
  });

  it('EXPECTED FAILURE - calibration batches of the wrong input', async () => {
    await expect(quantizeStatic(mlp, [tokens(2, 16, 11, 1)])).rejects.toThrow(/failed to run on calibration batch 0/);
  });
});
