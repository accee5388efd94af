import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { fillImageBatch, loadMnist, loadSpamAssassin, loadTextCorpus, windowStarts, WordTokenizer } from '@ringtrain/data';
import { encoderInferenceModel, encoderParameters, gptInferenceModel, gptParameters, initParameters, mlpInferenceModel, mlpParameters } from '@ringtrain/models';
import { permutation, RandomStream } from '@ringtrain/random';
import { calibrationSample } from './calibration-data.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-calibration-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const mlp = mlpInferenceModel({ inputSize: 784, hidden: [16], classes: 10 }, initParameters(mlpParameters({ inputSize: 784, hidden: [16], classes: 10 }), 1));

describe('calibrationSample', () => {
  it('MNIST: the first images of the seeded permutation, as pixels / 255', () => {
    const config = resolveRunConfig({ seed: 3, train: { steps: 1 } });
    const sample = calibrationSample(config, mlp, 70, 3);
    expect(sample.samples).toBe(70);
    expect(sample.batches.map((b) => b['input']!.dims)).toEqual([[32, 784], [32, 784], [6, 784]]);
    const train = loadMnist({ split: 'train' });
    const ids = permutation(train.count, 3, RandomStream.calibration).slice(0, 70);
    const want = new Float32Array(70 * 784);
    fillImageBatch(want, train, ids);
    const got = Float32Array.from(sample.batches.flatMap((b) => Array.from(b['input']!.data as Float32Array)));
    expect(got).toEqual(want);
  });

  it('MNIST: the same seed gives the same sample, another seed another', () => {
    const config = resolveRunConfig({ train: { steps: 1 } });
    const first = calibrationSample(config, mlp, 40, 5).batches[0]!['input']!.data as Float32Array;
    const again = calibrationSample(config, mlp, 40, 5).batches[0]!['input']!.data as Float32Array;
    const other = calibrationSample(config, mlp, 40, 6).batches[0]!['input']!.data as Float32Array;
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it('text: training windows of blockSize characters, and a vocabulary check', () => {
    const path = join(scratch, 'text.txt');
    writeFileSync(path, 'the quick brown fox jumps over the lazy dog. '.repeat(40));
    const corpus = loadTextCorpus({ path, blockSize: 16 });
    const config = resolveRunConfig({ model: { kind: 'gpt', nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 16 }, data: { name: 'text', path }, train: { steps: 1 } });
    const gpt = { nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 16, vocabSize: corpus.vocab.length };
    const model = gptInferenceModel(gpt, initParameters(gptParameters(gpt), 1), { vocab: JSON.stringify(corpus.vocab) });
    const sample = calibrationSample(config, model, 10, 0);
    const idx = sample.batches[0]!['idx']!;
    expect(idx.dims).toEqual([10, 16]);
    const starts = permutation(windowStarts(corpus.train.length, 16), 0, RandomStream.calibration);
    const tokens = Array.from(idx.data as BigInt64Array, Number);
    expect(tokens.slice(16, 32)).toEqual(Array.from(corpus.train.subarray(starts[1]!, starts[1]! + 16)));
    const wrongVocab = gptInferenceModel(gpt, initParameters(gptParameters(gpt), 1), { vocab: '["x"]' });
    expect(() => calibrationSample(config, wrongVocab, 10, 0)).toThrow(/vocabulary in the model differs/);
  });

  it('spam: training e-mails encoded by the tokenizer in the model', () => {
    const config = resolveRunConfig({ model: { kind: 'encoder', nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 32, classes: 2 }, data: { name: 'spam' }, train: { steps: 1 } });
    const data = loadSpamAssassin({ seed: config.seed, testFraction: config.data.testFraction });
    const tokenizer = WordTokenizer.fit(data.train.texts, { maxVocab: 500 });
    const encoder = { nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 32, vocabSize: tokenizer.size, classes: 2 };
    const model = encoderInferenceModel(encoder, initParameters(encoderParameters(encoder), 1), { tokenizer: JSON.stringify(tokenizer.toJSON()) });
    const sample = calibrationSample(config, model, 5, 0);
    expect(sample.samples).toBe(5);
    const ids = permutation(data.train.texts.length, 0, RandomStream.calibration);
    const want = tokenizer.encodeAll([data.train.texts[ids[0]!]!], 32).ids;
    expect(Array.from(sample.batches[0]!['idx']!.data as BigInt64Array, Number).slice(0, 32)).toEqual(Array.from(want));
    expect(() => calibrationSample(config, mlp, 5, 0)).toThrow(/no 'tokenizer' in its metadata/);
  });

  it('uses a training set smaller than the request whole', () => {
    const path = join(scratch, 'short.txt');
    writeFileSync(path, 'abcdefghij'.repeat(10));
    const corpus = loadTextCorpus({ path, blockSize: 8 });
    const config = resolveRunConfig({ model: { kind: 'gpt', nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8 }, data: { name: 'text', path }, train: { steps: 1 } });
    const gpt = { nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8, vocabSize: corpus.vocab.length };
    const model = gptInferenceModel(gpt, initParameters(gptParameters(gpt), 1), { vocab: JSON.stringify(corpus.vocab) });
    expect(calibrationSample(config, model, 1000, 0).samples).toBe(windowStarts(corpus.train.length, 8));
  });
});
