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
import { pruneBlockUnits } from './block-units.js';
import { blocksWithout, dropBlocks } from './drop-blocks.js';
import { headImportance, pruneHeads } from './heads.js';

const GPT: GptConfig = { nLayer: 3, nHead: 4, nEmbd: 16, blockSize: 8, vocabSize: 11 };
const ENCODER: EncoderConfig = { nLayer: 2, nHead: 4, nEmbd: 16, blockSize: 8, vocabSize: 11, classes: 3, padId: 0 };
const WINDOWS = 5;

/** Builds a model with weights 10 times their initial scale, so that every head and unit changes the logits. */
function model(kind: 'gpt' | 'encoder', seed: number): TransformerModel {
  const params = initParameters(kind === 'gpt' ? gptParameters(GPT) : encoderParameters(ENCODER), seed);
  for (let i = 0; i < params.length; i++) params[i]! *= 10;
  return readTransformerModel(kind === 'gpt' ? gptInferenceModel(GPT, params) : encoderInferenceModel(ENCODER, params));
}

const idx = new ort.Tensor('int64', BigInt64Array.from({ length: WINDOWS * 8 }, (_, i) => BigInt((i * 7 + 3) % 11)), [WINDOWS, 8]);

async function logits(m: TransformerModel): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(transformerInferenceModel(m));
  const out = (await session.run({ idx }))['logits']!.data as Float32Array;
  await session.release();
  return out;
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

/** Returns a copy of the model in which the columns `columns` of each block's `tensor` are 0, so those heads or units add nothing. */
function silenced(m: TransformerModel, tensor: string, columns: (l: number) => number[]): TransformerModel {
  const copy = { ...m, params: m.params.slice() } as TransformerModel;
  for (let l = 0; l < m.config.nLayer; l++) {
    const w = transformerTensor(copy, `h${l}.${tensor}`);
    const width = w.length / m.config.nEmbd;
    for (let r = 0; r < m.config.nEmbd; r++) for (const c of columns(l)) w[r * width + c] = 0;
  }
  return copy;
}

/** Returns the indices below `n` that are not in `kept`. */
function removed(n: number, kept: readonly number[]): number[] {
  return Array.from({ length: n }, (_, i) => i).filter((i) => !kept.includes(i));
}

describe('pruneHeads and pruneBlockUnits', () => {
  it('keep the exact logits with every head and unit kept', async () => {
    const m = model('gpt', 1);
    const heads = pruneHeads(m, 4);
    expect(heads.kept).toEqual([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]]);
    const units = pruneBlockUnits(heads.model, 64);
    expect(Array.from(units.model.params)).toEqual(Array.from(m.params));
    expect(maxDifference(await logits(units.model), await logits(m))).toBe(0);
  });

  for (const kind of ['gpt', 'encoder'] as const) {
    it(`equal the ${kind} with the removed heads and units zeroed (tolerance 1e-5)`, async () => {
      const m = model(kind, 2);
      const heads = pruneHeads(m, 2);
      const small = pruneBlockUnits(heads.model, 40);
      expect(small.model.config).toMatchObject({ nHead: 2, headSize: 4, mlpHidden: 40 });
      const headColumns = (l: number) => removed(4, heads.kept[l]!).flatMap((h) => [0, 1, 2, 3].map((j) => h * 4 + j));
      const reference = silenced(silenced(m, 'attn.c_proj.weight', headColumns), 'mlp.c_proj.weight', (l) => removed(64, small.kept[l]!));
      const [got, want, original] = [await logits(small.model), await logits(reference), await logits(m)];
      expect(maxDifference(got, want)).toBeLessThan(1e-5);
      // The removed heads and units mattered, so the comparison above can fail.
      expect(maxDifference(got, original)).toBeGreaterThan(1e-2);
      const [smallBytes, bytes] = [transformerInferenceModel(small.model), transformerInferenceModel(m)];
      expect(smallBytes.length).toBeLessThan(0.75 * bytes.length);
      await (await ort.InferenceSession.create(smallBytes)).release();
    });
  }

  it('removes a silent head first', () => {
    const m = silenced(model('gpt', 3), 'attn.c_proj.weight', (l) => (l === 1 ? [8, 9, 10, 11] : []));
    expect(headImportance(m, 1)[2]).toBe(0);
    const { kept } = pruneHeads(m, 3);
    expect(kept[1]).toEqual([0, 1, 3]);
  });

  it('EXPECTED FAILURE - more heads or units than the blocks have', () => {
    const m = model('gpt', 4);
    expect(() => pruneHeads(m, 5)).toThrow(/each block has 4 attention heads, so it can keep 1 to 4, got 5/);
    expect(() => pruneHeads(m, 0)).toThrow(/can keep 1 to 4, got 0/);
    expect(() => pruneBlockUnits(m, 65)).toThrow(/each block's MLP has 64 hidden units, so it can keep 1 to 64, got 65/);
  });
});

describe('dropBlocks', () => {
  for (const kind of ['gpt', 'encoder'] as const) {
    it(`equals the ${kind} with the dropped blocks' residual writes zeroed (tolerance 1e-5)`, async () => {
      const m = model(kind, 5);
      const keep = kind === 'gpt' ? [0, 2] : [1];
      const shallow = dropBlocks(m, keep);
      expect(shallow.config.nLayer).toBe(keep.length);
      const reference = { ...m, params: m.params.slice() } as TransformerModel;
      for (const l of removed(m.config.nLayer, keep)) {
        for (const name of ['attn.c_proj.weight', 'attn.c_proj.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias']) transformerTensor(reference, `h${l}.${name}`).fill(0);
      }
      const [got, want, original] = [await logits(shallow), await logits(reference), await logits(m)];
      expect(maxDifference(got, want)).toBeLessThan(1e-5);
      expect(maxDifference(got, original)).toBeGreaterThan(1e-2);
      expect(Array.from(transformerTensor(shallow, 'h0.ln_1.weight'))).toEqual(Array.from(transformerTensor(m, `h${keep[0]}.ln_1.weight`)));
    });
  }

  it('EXPECTED FAILURE - blocks outside the model, out of order or none', () => {
    const m = model('gpt', 6);
    expect(() => dropBlocks(m, [0, 3])).toThrow(/block 3 does not exist: the model has blocks 0 to 2/);
    expect(() => dropBlocks(m, [2, 0])).toThrow(/list the blocks to keep in increasing order without repeats, got 2,0/);
    expect(() => dropBlocks(m, [])).toThrow(/keep at least one of the model's 3 blocks/);
    expect(blocksWithout(3, [1])).toEqual([0, 2]);
    expect(() => blocksWithout(3, [0, 1, 2])).toThrow(/leaves none of the model's 3 blocks/);
    expect(() => blocksWithout(3, [-1])).toThrow(/block -1 does not exist/);
  });
});
