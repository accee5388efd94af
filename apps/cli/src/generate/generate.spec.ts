import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bigramModel, saveModel, type BigramModelOptions } from '../testing/language-models.js';
import { decodeTokens, encodePrompt, generateTokens, type GenerateOptions } from './generate.js';
import { loadLanguageModel } from './model.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-generate-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const VOCAB = ['a', 'b', 'c', 'd', 'e'];
/** Row i contains the logits after token i; the largest entries give the chain a c b e d a. */
const TABLE = [
  [0.1, 0.4, 1.6, 0.2, 0.3],
  [0.3, 0.1, 0.2, 0.4, 1.5],
  [0.2, 1.7, 0.1, 0.3, 0.4],
  [1.4, 0.3, 0.4, 0.1, 0.2],
  [0.4, 0.2, 0.3, 1.6, 0.1],
];

let modelCount = 0;
function modelFile(options: BigramModelOptions = {}): string {
  return saveModel(scratch, `model-${modelCount++}.onnx`, bigramModel(TABLE, VOCAB, options));
}

async function generateText(path: string, prompt: string, options: Omit<GenerateOptions, 'temperature'> & { temperature?: number }) {
  const model = await loadLanguageModel(path);
  try {
    const ids = await generateTokens(model, encodePrompt(prompt, model.vocab), { temperature: 1, ...options });
    return prompt + decodeTokens(ids, model.vocab);
  } finally {
    await model.session.release();
  }
}

describe('loadLanguageModel', () => {
  it('reads the vocabulary and block size', async () => {
    const model = await loadLanguageModel(modelFile({ blockSize: '8' }));
    expect(model.vocab).toEqual(VOCAB);
    expect(model.blockSize).toBe(8);
    expect(model.fixedLength).toBe(false);
    await model.session.release();
  });

  it('takes the block size from a static seq dimension', async () => {
    const model = await loadLanguageModel(modelFile({ seq: 3 }));
    expect(model.blockSize).toBe(3);
    expect(model.fixedLength).toBe(true);
    await model.session.release();
  });

  it('has no block size without metadata or static dimension', async () => {
    const model = await loadLanguageModel(modelFile());
    expect(model.blockSize).toBeUndefined();
    await model.session.release();
  });

  it('BAD FILE - rejects a missing file', async () => {
    await expect(loadLanguageModel(join(scratch, 'absent.onnx'))).rejects.toThrow(/model file .*absent\.onnx not found/);
  });

  it('BAD FILE - rejects bytes that are not ONNX', async () => {
    const path = saveModel(scratch, 'garbage.onnx', new TextEncoder().encode('not a model'));
    await expect(loadLanguageModel(path)).rejects.toThrow(/failed to parse model .*garbage\.onnx as ONNX/);
  });

  it('BAD FILE - rejects missing vocab metadata', async () => {
    await expect(loadLanguageModel(modelFile({ vocab: undefined }))).rejects.toThrow(
      /has no 'vocab' in its metadata_props; generate needs 'vocab', a JSON array of the characters in token id order/,
    );
  });

  it('BAD FILE - rejects an invalid vocab', async () => {
    await expect(loadLanguageModel(modelFile({ vocab: 'abc' }))).rejects.toThrow(/metadata 'vocab' .* is not valid JSON/);
    await expect(loadLanguageModel(modelFile({ vocab: '[]' }))).rejects.toThrow(/is empty or not an array/);
    await expect(loadLanguageModel(modelFile({ vocab: '["a","bc","c","d","e"]' }))).rejects.toThrow(/has "bc" at id 1; every entry must be one character/);
    await expect(loadLanguageModel(modelFile({ vocab: '["a","b","a","d","e"]' }))).rejects.toThrow(/lists "a" at ids 0 and 2; entries must be distinct/);
  });

  it('BAD FILE - rejects a wrong input name', async () => {
    await expect(loadLanguageModel(modelFile({ inputName: 'tokens' }))).rejects.toThrow(
      /model .* has inputs \['tokens'\]; generate needs one input 'idx' \(int64 \[batch, seq\]\)/,
    );
  });

  it('BAD FILE - rejects an invalid blockSize', async () => {
    await expect(loadLanguageModel(modelFile({ blockSize: '0' }))).rejects.toThrow(/metadata 'blockSize' .* is '0'; it must be a positive decimal integer/);
    await expect(loadLanguageModel(modelFile({ blockSize: '4', seq: 3 }))).rejects.toThrow(/blockSize 4 in its metadata but input 'idx' has a static seq dimension of 3/);
  });
});

describe('encodePrompt', () => {
  it('maps characters to ids', () => {
    expect(encodePrompt('cab', VOCAB)).toEqual([2, 0, 1]);
  });

  it('BAD PROMPT - names an unknown character and the vocabulary size', () => {
    expect(() => encodePrompt('abz', VOCAB)).toThrow(
      `--prompt contains "z" (U+007A) at index 2, which is not in the model's vocabulary; the model's vocabulary has 5 characters: "abcde"`,
    );
  });
});

describe('generateTokens', () => {
  it('is deterministic for a seed', async () => {
    const path = modelFile();
    const first = await generateText(path, 'a', { tokens: 40, seed: 7 });
    const again = await generateText(path, 'a', { tokens: 40, seed: 7 });
    const otherSeed = await generateText(path, 'a', { tokens: 40, seed: 8 });
    expect(first).toHaveLength(41);
    expect(again).toBe(first);
    // Two independent draws from a row agree with a probability of about 0.3, so two seeds
    // give the same 40 characters with a probability of about 0.3^40.
    expect(otherSeed).not.toBe(first);
  });

  it('follows the argmax chain at temperature 0', async () => {
    const text = await generateText(modelFile(), 'da', { tokens: 10, seed: 3, temperature: 0 });
    expect(text).toBe('dacbedacbeda');
  });

  it('equals greedy at top-k 1', async () => {
    const path = modelFile();
    const greedy = await generateText(path, 'e', { tokens: 12, seed: 0, temperature: 0 });
    for (const seed of [0, 1, 2]) {
      expect(await generateText(path, 'e', { tokens: 12, seed, temperature: 2, topK: 1 })).toBe(greedy);
    }
  });

  it('pads a short context for a static seq dimension', async () => {
    // Padding uses id 0 ('a'); reading the logits of a padded position would continue from 'a'.
    const text = await generateText(modelFile({ seq: 4 }), 'b', { tokens: 6, seed: 0, temperature: 0 });
    expect(text).toBe('bedacbe');
  });

  it('crops the context to the block size', async () => {
    // The logits of this model sum the table rows of every fed token, so only a context
    // cropped to one token gives the bigram chain.
    const cropped = await generateText(modelFile({ sumOverContext: true, blockSize: '1' }), 'bcd', { tokens: 5, seed: 0, temperature: 0 });
    expect(cropped).toBe('bcdacbed');
    const whole = await generateText(modelFile({ sumOverContext: true }), 'bcd', { tokens: 5, seed: 0, temperature: 0 });
    expect(whole).not.toBe(cropped);
  });

  it('BAD PROMPT - rejects an empty prompt', async () => {
    const model = await loadLanguageModel(modelFile());
    await expect(generateTokens(model, [], { tokens: 1, seed: 0, temperature: 1 })).rejects.toThrow(/--prompt must contain at least one character/);
    await model.session.release();
  });

  it('samples only the characters of a padded vocabulary', async () => {
    // The table has 5 logits per row; a vocabulary of 4 leaves the last one unnamed.
    const path = saveModel(scratch, 'padded.onnx', bigramModel(TABLE, VOCAB, { vocab: JSON.stringify([...VOCAB].slice(0, 4)) }));
    const model = await loadLanguageModel(path);
    const ids = await generateTokens(model, [0], { tokens: 200, seed: 3, temperature: 1 });
    expect(ids.every((id) => id < 4)).toBe(true);
    await model.session.release();
  });

  it('BAD FILE - rejects logits narrower than the vocabulary', async () => {
    const path = saveModel(scratch, 'narrow.onnx', bigramModel(TABLE, VOCAB, { vocab: JSON.stringify([...VOCAB, 'f']) }));
    const model = await loadLanguageModel(path);
    await expect(generateTokens(model, [0], { tokens: 1, seed: 0, temperature: 1 })).rejects.toThrow(
      /returned 'logits' of type float32 \[1, 1, 5\] for input \[1, 1\]; expected float32 \[1, 1, V\] with V at least 6/,
    );
    await model.session.release();
  });
});
