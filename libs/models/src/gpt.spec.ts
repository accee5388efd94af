import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { parseModel } from '@ringtrain/graph';
import { gptInferenceModel, gptParameters, gptTrainingGraph, type GptConfig } from './gpt.js';
import { initParameters, parameterCount, type ParameterSpec } from './parameters.js';

const TINY: GptConfig = { nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 6, vocabSize: 7 };
const BATCH = 3;

function tokens(count: number, salt: number): BigInt64Array {
  return BigInt64Array.from({ length: count }, (_, i) => BigInt((i * 5 + salt * 3 + ((i * i) % 4)) % TINY.vocabSize));
}

function parameterFeeds(specs: ParameterSpec[], params: Float32Array): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const spec of specs) {
    feeds[spec.name] = new ort.Tensor('float32', params.slice(spec.offset, spec.offset + spec.size), spec.shape);
  }
  return feeds;
}

async function run(cfg: GptConfig, params: Float32Array, idx: BigInt64Array, targets: BigInt64Array) {
  const graph = gptTrainingGraph(cfg, { batch: BATCH });
  const session = await ort.InferenceSession.create(graph.bytes);
  const shape = [BATCH, cfg.blockSize];
  const out = await session.run({
    ...parameterFeeds(graph.parameters, params),
    idx: new ort.Tensor('int64', idx, shape),
    targets: new ort.Tensor('int64', targets, shape),
  });
  await session.release();
  return { graph, out };
}

describe('gptParameters', () => {
  it('should count 812,160 parameters for the nanoGPT example', () => {
    // The model of examples/nanogpt-shakespeare-char.json on the default text, which has 83
    // distinct characters.
    const specs = gptParameters({ nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64, vocabSize: 83 });
    expect(parameterCount(specs)).toBe(812_160);
    expect(specs.filter((s) => s.name === 'wte')).toHaveLength(1);
    expect(specs.some((s) => s.name === 'lm_head.weight')).toBe(false);
  });

  it('should decay matrices and embeddings only', () => {
    const specs = gptParameters(TINY);
    const decayed = specs.filter((s) => s.decay).map((s) => s.name);
    expect(decayed).toContain('wte');
    expect(decayed).toContain('wpe');
    expect(decayed).toContain('h0.attn.c_attn.weight');
    expect(decayed.some((n) => n.endsWith('.bias') || n.includes('ln_'))).toBe(false);
  });

  it('should reject nHead that does not divide nEmbd', () => {
    expect(() => gptParameters({ ...TINY, nHead: 3 })).toThrow(/nEmbd 8 is not a multiple of nHead 3/);
  });
});

describe('gptTrainingGraph', () => {
  it('should sum both gradients of a tied embedding (tolerance 1e-6)', async () => {
    const specs = gptParameters(TINY);
    const params = initParameters(specs, 3);
    const n = BATCH * TINY.blockSize;
    const [idx, targets] = [tokens(n, 1), tokens(n, 2)];
    const tied = await run(TINY, params, idx, targets);

    // The same model with an untied head that starts as a copy of the embedding.
    const untiedCfg = { ...TINY, tieEmbeddings: false };
    const untiedSpecs = gptParameters(untiedCfg);
    const untiedParams = new Float32Array(parameterCount(untiedSpecs));
    untiedParams.set(params);
    const wte = specs.find((s) => s.name === 'wte')!;
    const head = untiedSpecs.find((s) => s.name === 'lm_head.weight')!;
    untiedParams.set(params.subarray(wte.offset, wte.offset + wte.size), head.offset);
    const untied = await run(untiedCfg, untiedParams, idx, targets);

    const lossTied = (tied.out['loss_sum']!.data as Float32Array)[0]!;
    const lossUntied = (untied.out['loss_sum']!.data as Float32Array)[0]!;
    expect(Math.abs(lossTied - lossUntied)).toBeLessThan(1e-5 * Math.abs(lossTied));
    const gTied = tied.out['grad.wte']!.data as Float32Array;
    const gEmbed = untied.out['grad.wte']!.data as Float32Array;
    const gHead = untied.out['grad.lm_head.weight']!.data as Float32Array;
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < gTied.length; i++) {
      worst = Math.max(worst, Math.abs(gTied[i]! - (gEmbed[i]! + gHead[i]!)));
      scale = Math.max(scale, Math.abs(gTied[i]!));
    }
    expect(worst / scale).toBeLessThan(1e-6);
    expect(tied.graph.outputs.gradients).toHaveLength(specs.length);
  });

  it('should match central differences (float32, tolerance 3e-2)', async () => {
    const specs = gptParameters(TINY);
    const params = initParameters(specs, 5);
    const n = BATCH * TINY.blockSize;
    const [idx, targets] = [tokens(n, 4), tokens(n, 6)];
    const graph = gptTrainingGraph(TINY, { batch: BATCH, gradients: true });
    const session = await ort.InferenceSession.create(graph.bytes);
    const shape = [BATCH, TINY.blockSize];
    const data = { idx: new ort.Tensor('int64', idx, shape), targets: new ort.Tensor('int64', targets, shape) };
    const loss = async (p: Float32Array) => {
      const out = await session.run({ ...parameterFeeds(specs, p), ...data });
      return { value: (out['loss_sum']!.data as Float32Array)[0]!, out };
    };
    const base = await loss(params);
    const eps = 1e-2;
    for (const spec of specs) {
      const grad = base.out[`grad.${spec.name}`]!.data as Float32Array;
      // Check one element of each parameter tensor, the one with the largest gradient, so that
      // float32 differences can resolve it.
      let k = 0;
      for (let i = 1; i < grad.length; i++) if (Math.abs(grad[i]!) > Math.abs(grad[k]!)) k = i;
      const plus = params.slice();
      const minus = params.slice();
      plus[spec.offset + k]! += eps;
      minus[spec.offset + k]! -= eps;
      const numeric = ((await loss(plus)).value - (await loss(minus)).value) / (2 * eps);
      const error = Math.abs(numeric - grad[k]!) / Math.max(Math.abs(numeric), Math.abs(grad[k]!), 1e-2);
      expect(error, `${spec.name}[${k}]: analytic ${grad[k]}, numeric ${numeric}`).toBeLessThan(3e-2);
    }
    await session.release();
  });

  it('should leave targets of -1 out of the loss', async () => {
    const specs = gptParameters(TINY);
    const params = initParameters(specs, 7);
    const n = BATCH * TINY.blockSize;
    const idx = tokens(n, 1);
    const targets = tokens(n, 2);
    const full = await run(TINY, params, idx, targets);
    const padded = targets.slice();
    padded.fill(-1n, TINY.blockSize * 2);
    const part = await run(TINY, params, idx, padded);
    const lossFull = (full.out['loss_sum']!.data as Float32Array)[0]!;
    const lossPart = (part.out['loss_sum']!.data as Float32Array)[0]!;
    expect(lossPart).toBeLessThan(lossFull);
    expect(lossPart).toBeGreaterThan(0);
  });
});

describe('gptInferenceModel', () => {
  it('should match the training graph and stay causal (tolerance 1e-5)', async () => {
    const specs = gptParameters(TINY);
    const params = initParameters(specs, 9);
    const bytes = gptInferenceModel(TINY, params, { vocab: JSON.stringify(['a', 'b', 'c', 'd', 'e', 'f', 'g']) });
    const parsed = parseModel(bytes);
    expect(parsed.metadata['blockSize']).toBe('6');
    expect(parsed.graph.inputs.map((v) => v.name)).toEqual(['idx']);
    expect(parsed.graph.initializers.filter((v) => v.name === 'wte')).toHaveLength(1);
    const session = await ort.InferenceSession.create(bytes);
    const n = BATCH * TINY.blockSize;
    const [idx, targets] = [tokens(n, 3), tokens(n, 8)];
    const input = new ort.Tensor('int64', idx, [BATCH, TINY.blockSize]);
    const logits = (await session.run({ idx: input }))['logits']!;
    expect(logits.dims).toEqual([BATCH, TINY.blockSize, TINY.vocabSize]);
    let lossSum = 0;
    const values = logits.data as Float32Array;
    for (let r = 0; r < n; r++) {
      const row = values.subarray(r * TINY.vocabSize, (r + 1) * TINY.vocabSize);
      const max = Math.max(...row);
      lossSum += max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) - row[Number(targets[r])]!;
    }
    const trained = await run(TINY, params, idx, targets);
    const reference = (trained.out['loss_sum']!.data as Float32Array)[0]!;
    expect(Math.abs(lossSum - reference) / reference).toBeLessThan(1e-5);

    // Causality: the logits of a prefix must not depend on the tokens after it.
    const prefix = new ort.Tensor('int64', idx.slice(0, 4), [1, 4]);
    const short = (await session.run({ idx: prefix }))['logits']!.data as Float32Array;
    for (let i = 0; i < 4 * TINY.vocabSize; i++) expect(Math.abs(short[i]! - values[i]!)).toBeLessThan(1e-5);
    await session.release();
  });
});
