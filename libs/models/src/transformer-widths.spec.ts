import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encoderInferenceModel, encoderParameters, encoderTrainingGraph, type EncoderConfig } from './encoder.js';
import { gptInferenceModel, gptParameters, gptTrainingGraph, type GptConfig } from './gpt.js';
import { initParameters, type ParameterSpec } from './parameters.js';

// Three heads of size 2 are 6 features wide in a residual stream of 8, and the MLP has 5 units.
const NARROW: GptConfig = { nLayer: 2, nHead: 3, nEmbd: 8, headSize: 2, mlpHidden: 5, blockSize: 6, vocabSize: 7 };
const DEFAULT: GptConfig = { nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 6, vocabSize: 7 };
const BATCH = 3;

function tokens(count: number, salt: number): BigInt64Array {
  return BigInt64Array.from({ length: count }, (_, i) => BigInt((i * 5 + salt * 3 + ((i * i) % 4)) % 7));
}

function parameterFeeds(specs: readonly ParameterSpec[], params: Float32Array): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const spec of specs) feeds[spec.name] = new ort.Tensor('float32', params.slice(spec.offset, spec.offset + spec.size), spec.shape);
  return feeds;
}

/** Returns the summed cross-entropy of logits rows against targets, in float64. */
function crossEntropySum(logits: Float32Array, targets: BigInt64Array, classes: number): number {
  let sum = 0;
  for (let r = 0; r < targets.length; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    const max = Math.max(...row);
    sum += max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) - row[Number(targets[r])]!;
  }
  return sum;
}

describe('headSize and mlpHidden', () => {
  it('shape the block tensors', () => {
    const shapes = Object.fromEntries(gptParameters(NARROW).map((s) => [s.name, s.shape]));
    expect(shapes['h1.attn.c_attn.weight']).toEqual([18, 8]);
    expect(shapes['h1.attn.c_attn.bias']).toEqual([18]);
    expect(shapes['h1.attn.c_proj.weight']).toEqual([8, 6]);
    expect(shapes['h1.mlp.c_fc.weight']).toEqual([5, 8]);
    expect(shapes['h1.mlp.c_proj.weight']).toEqual([8, 5]);
  });

  it('give the same bytes as unset when they equal the defaults', () => {
    const params = initParameters(gptParameters(DEFAULT), 1);
    const explicit = { ...DEFAULT, headSize: 4, mlpHidden: 32 };
    expect(Buffer.from(gptInferenceModel(explicit, params)).equals(Buffer.from(gptInferenceModel(DEFAULT, params)))).toBe(true);
    const train = (cfg: GptConfig) => Buffer.from(gptTrainingGraph(cfg, { batch: 2 }).bytes);
    expect(train(explicit).equals(train(DEFAULT))).toBe(true);
  });

  it('train a GPT that matches its inference model (tolerance 1e-5)', async () => {
    const specs = gptParameters(NARROW);
    const params = initParameters(specs, 3);
    const n = BATCH * NARROW.blockSize;
    const [idx, targets] = [tokens(n, 1), tokens(n, 2)];
    const shape = [BATCH, NARROW.blockSize];
    const train = await ort.InferenceSession.create(gptTrainingGraph(NARROW, { batch: BATCH }).bytes);
    const out = await train.run({ ...parameterFeeds(specs, params), idx: new ort.Tensor('int64', idx, shape), targets: new ort.Tensor('int64', targets, shape) });
    const infer = await ort.InferenceSession.create(gptInferenceModel(NARROW, params));
    const logits = (await infer.run({ idx: new ort.Tensor('int64', idx, shape) }))['logits']!;
    expect(logits.dims).toEqual([BATCH, NARROW.blockSize, NARROW.vocabSize]);
    const reference = crossEntropySum(logits.data as Float32Array, targets, NARROW.vocabSize);
    const loss = (out['loss_sum']!.data as Float32Array)[0]!;
    expect(Math.abs(loss - reference) / reference).toBeLessThan(1e-5);
    await Promise.all([train.release(), infer.release()]);
  });

  it('give gradients that match central differences (float32, tolerance 3e-2)', async () => {
    const specs = gptParameters(NARROW);
    const params = initParameters(specs, 5);
    const n = BATCH * NARROW.blockSize;
    const shape = [BATCH, NARROW.blockSize];
    const data = { idx: new ort.Tensor('int64', tokens(n, 4), shape), targets: new ort.Tensor('int64', tokens(n, 6), shape) };
    const session = await ort.InferenceSession.create(gptTrainingGraph(NARROW, { batch: BATCH }).bytes);
    const loss = async (p: Float32Array) => session.run({ ...parameterFeeds(specs, p), ...data });
    const base = await loss(params);
    const eps = 1e-2;
    for (const spec of specs) {
      const grad = base[`grad.${spec.name}`]!.data as Float32Array;
      let k = 0;
      for (let i = 1; i < grad.length; i++) if (Math.abs(grad[i]!) > Math.abs(grad[k]!)) k = i;
      const plus = params.slice();
      const minus = params.slice();
      plus[spec.offset + k]! += eps;
      minus[spec.offset + k]! -= eps;
      const lossOf = async (p: Float32Array) => ((await loss(p))['loss_sum']!.data as Float32Array)[0]!;
      const numeric = ((await lossOf(plus)) - (await lossOf(minus))) / (2 * eps);
      const error = Math.abs(numeric - grad[k]!) / Math.max(Math.abs(numeric), Math.abs(grad[k]!), 1e-2);
      expect(error, `${spec.name}[${k}]: analytic ${grad[k]}, numeric ${numeric}`).toBeLessThan(3e-2);
    }
    await session.release();
  });

  it('train an encoder that matches its inference model (tolerance 1e-5)', async () => {
    const cfg: EncoderConfig = { nLayer: 1, nHead: 3, nEmbd: 8, headSize: 2, mlpHidden: 6, blockSize: 5, vocabSize: 9, classes: 2 };
    const specs = encoderParameters(cfg);
    const params = initParameters(specs, 6);
    const idx = BigInt64Array.from([1, 4, 7, 2, 0, 3, 3, 8, 0, 0], BigInt);
    const labels = BigInt64Array.from([1n, 0n]);
    const train = await ort.InferenceSession.create(encoderTrainingGraph(cfg, { batch: 2 }).bytes);
    const out = await train.run({ ...parameterFeeds(specs, params), idx: new ort.Tensor('int64', idx, [2, 5]), labels: new ort.Tensor('int64', labels, [2]) });
    const infer = await ort.InferenceSession.create(encoderInferenceModel(cfg, params));
    const logits = (await infer.run({ idx: new ort.Tensor('int64', idx, [2, 5]) }))['logits']!.data as Float32Array;
    const reference = crossEntropySum(logits, labels, 2);
    expect(Math.abs((out['loss_sum']!.data as Float32Array)[0]! - reference) / reference).toBeLessThan(1e-5);
    await Promise.all([train.release(), infer.release()]);
  });

  it('EXPECTED FAILURE - a head size that is not a positive integer', () => {
    expect(() => gptParameters({ ...NARROW, headSize: 0 })).toThrow(/GptConfig headSize must be a positive integer, got 0/);
    expect(() => gptParameters({ ...NARROW, mlpHidden: 2.5 })).toThrow(/GptConfig mlpHidden must be a positive integer, got 2.5/);
    expect(() => gptParameters({ ...DEFAULT, nHead: 3 })).toThrow(/nEmbd 8 is not a multiple of nHead 3.*or set headSize/);
  });
});
