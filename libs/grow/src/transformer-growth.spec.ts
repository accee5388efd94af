import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  encoderInferenceModel,
  encoderParameters,
  gptInferenceModel,
  gptParameters,
  initParameters,
  readTransformerModel,
  transformerInferenceModel,
  transformerTensor,
  type EncoderConfig,
  type GptConfig,
  type TransformerModel,
} from '@ringtrain/models';
import { deepenTransformer, widenTransformerMlp } from './transformer-growth.js';

const GPT: GptConfig = { nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 13 };
const ENCODER: EncoderConfig = { nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, vocabSize: 13, classes: 2, padId: 0 };

/** Builds a model with weights 10 times their initial scale, so that a change of the function shows in the logits. */
function model(kind: 'gpt' | 'encoder'): TransformerModel {
  const params = initParameters(kind === 'gpt' ? gptParameters(GPT) : encoderParameters(ENCODER), 7);
  for (let i = 0; i < params.length; i++) params[i]! *= 10;
  return readTransformerModel(kind === 'gpt' ? gptInferenceModel(GPT, params) : encoderInferenceModel(ENCODER, params));
}

/** Random token windows, drawn once with a fixed linear congruential generator. */
const windows = (() => {
  let s = 12345;
  const tokens = BigInt64Array.from({ length: 16 * 8 }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return BigInt(s % 13);
  });
  return new ort.Tensor('int64', tokens, [16, 8]);
})();

async function logits(m: TransformerModel): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(transformerInferenceModel(m));
  const out = (await session.run({ idx: windows }))['logits']!.data as Float32Array;
  await session.release();
  return out;
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

describe('deepenTransformer', () => {
  for (const kind of ['gpt', 'encoder'] as const) {
    it(`keeps the ${kind}'s logits with a new block after each block (tolerance 1e-4)`, async () => {
      const m = model(kind);
      const before = await logits(m);
      for (const after of [0, 1]) {
        const deep = deepenTransformer(m, after, { seed: 1 });
        expect(deep.config.nLayer).toBe(3);
        expect(deep.params.length).toBeGreaterThan(m.params.length);
        expect(maxDifference(await logits(deep), before)).toBeLessThan(1e-4);
        // Old block 1 moves up by one when the new block goes before it.
        const moved = after === 0 ? 2 : 1;
        expect(Array.from(transformerTensor(deep, `h${moved}.mlp.c_fc.weight`))).toEqual(Array.from(transformerTensor(m, 'h1.mlp.c_fc.weight')));
      }
    });
  }

  it('gives the new block zero output projections and initialised inputs', () => {
    const deep = deepenTransformer(model('gpt'), 0, { seed: 1 });
    for (const name of ['attn.c_proj.weight', 'attn.c_proj.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias']) {
      expect(transformerTensor(deep, `h1.${name}`).every((v) => v === 0), name).toBe(true);
    }
    const fc = transformerTensor(deep, 'h1.mlp.c_fc.weight');
    expect(fc.some((v) => v !== 0)).toBe(true);
    expect(Array.from(transformerTensor(deep, 'h1.ln_1.weight'))).toEqual(new Array(16).fill(1));
  });

  it('EXPECTED FAILURE - a block outside the model', () => {
    expect(() => deepenTransformer(model('gpt'), 2, { seed: 0 })).toThrow(/a new block goes after a block of the model, 0 to 1, got 2/);
  });
});

describe('widenTransformerMlp', () => {
  for (const kind of ['gpt', 'encoder'] as const) {
    it(`keeps the ${kind}'s logits with wider MLPs (tolerance 1e-4)`, async () => {
      const m = model(kind);
      const wide = widenTransformerMlp(m, 96, { seed: 2 });
      expect(wide.config.mlpHidden).toBe(96);
      expect(wide.params.length).toBeGreaterThan(m.params.length);
      expect(maxDifference(await logits(wide), await logits(m))).toBeLessThan(1e-4);
    });
  }

  it('splits the outgoing weights between copies, with noise that breaks their symmetry', () => {
    const m = model('gpt');
    const exact = widenTransformerMlp(m, 65, { seed: 3, noise: 0 });
    const noisy = widenTransformerMlp(m, 65, { seed: 3 });
    const column = (x: TransformerModel, unit: number) => {
      const w = transformerTensor(x, 'h0.mlp.c_proj.weight');
      const width = w.length / 16;
      return Array.from({ length: 16 }, (_, r) => w[r * width + unit]!);
    };
    // Unit 64 is a copy of some unit s. Without noise, both carry half of the old column of s.
    const copy = column(exact, 64);
    const source = Array.from({ length: 64 }, (_, s) => s).find((s) => column(exact, s).every((v, i) => v === copy[i]))!;
    expect(source).toBeDefined();
    column(m, source).forEach((v, i) => expect(copy[i]).toBeCloseTo(v / 2, 6));
    expect(column(noisy, 64)).not.toEqual(column(noisy, source));
  });

  it('EXPECTED FAILURE - a narrower MLP', () => {
    expect(() => widenTransformerMlp(model('gpt'), 32, { seed: 0 })).toThrow(/each block's MLP has 64 hidden units; a wider MLP needs at least that many, got 32/);
  });
});
