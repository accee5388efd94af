import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { permutation } from '@ringtrain/random';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSpamAssassin, SPAM_ASSASSIN_GROUPS, type SpamAssassinData } from './spam-assassin.js';
import { WordTokenizer } from './word-tokenizer.js';

function message(relay: string, subject: string, body: string): string {
  return `Received: from ${relay}\nDate: Mon, 1 Jul 2002 10:00:00 +0000\nSubject: ${subject}\n\n${body}\n`;
}

/** Writes a corpus folder with `perGroup` messages per group, plus one repeat of each group's first. */
function writeTinyCorpus(perGroup: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-spam-'));
  for (const group of Object.keys(SPAM_ASSASSIN_GROUPS)) {
    mkdirSync(join(dir, group));
    for (let i = 0; i < perGroup; i++) {
      writeFileSync(join(dir, group, `${i}.txt`), message('a.example', `${group} ${i}`, 'text'));
      writeFileSync(join(dir, group, `${i}.json`), '{}');
    }
    writeFileSync(join(dir, group, 'repeat.txt'), message('b.example', `${group} 0`, 'text'));
  }
  return dir;
}

describe('loadSpamAssassin on a small folder', () => {
  it('labels groups and removes repeated messages', () => {
    const data = loadSpamAssassin({ dir: writeTinyCorpus(5), seed: 7 });
    expect(data.duplicates).toBe(5);
    expect(data.groups).toEqual({
      'easy-ham-1': 5,
      'easy-ham-2': 5,
      'hard-ham-1': 5,
      'spam-1': 5,
      'spam-2': 5,
    });
    expect(data.train.texts.length).toBe(20);
    expect(data.test.texts.length).toBe(5);
    const all = [...data.train.texts, ...data.test.texts];
    const labels = [...data.train.labels, ...data.test.labels];
    all.forEach((text, i) => {
      expect(labels[i]).toBe(text.startsWith('spam') ? 1 : 0);
      expect(text).not.toMatch(/Received|Date/);
    });
  });

  it('stratifies the split by label', () => {
    const data = loadSpamAssassin({ dir: writeTinyCorpus(5), seed: 3, testFraction: 0.4 });
    const spam = (labels: Uint8Array) => labels.reduce((sum, label) => sum + label, 0);
    expect(data.test.labels.length).toBe(10);
    expect(spam(data.test.labels)).toBe(4);
    expect(spam(data.train.labels)).toBe(6);
  });

  it('EXPECTED FAILURE - missing group folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-spam-'));
    expect(() => loadSpamAssassin({ dir, seed: 1 })).toThrow(
      `SpamAssassin group folder ${join(dir, 'easy-ham-1')} not found; pass dir with the folders ` +
        'easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2',
    );
  });

  it('EXPECTED FAILURE - no spam messages', () => {
    const dir = writeTinyCorpus(3);
    for (const group of ['spam-1', 'spam-2']) {
      for (const name of ['0.txt', '1.txt', '2.txt', 'repeat.txt']) rmSync(join(dir, group, name));
    }
    expect(() => loadSpamAssassin({ dir, seed: 1 })).toThrow(
      `${dir} has no spam messages: the folders spam-1, spam-2 hold no .txt files; add spam messages there`,
    );
  });

  it('EXPECTED FAILURE - test split would be empty', () => {
    expect(() => loadSpamAssassin({ dir: writeTinyCorpus(1), seed: 1, testFraction: 0.1 })).toThrow(
      /test split of the 5 messages in .* is empty with test fraction 0\.1/,
    );
  });

  it('BAD CALL - rejects an invalid seed or test fraction', () => {
    expect(() => loadSpamAssassin({ seed: -1 })).toThrow('seed must be an integer in [0, 2^32), got -1');
    expect(() => loadSpamAssassin({ seed: 1, testFraction: 1 })).toThrow(
      'test fraction must be in (0, 1), got 1',
    );
  });
});

describe('loadSpamAssassin on the full corpus', () => {
  let data: SpamAssassinData;
  beforeAll(() => {
    data = loadSpamAssassin({ seed: 1 });
  });

  it('keeps 5,918 distinct messages', () => {
    expect(data.duplicates).toBe(128);
    expect(data.groups).toEqual({
      'easy-ham-1': 2472,
      'easy-ham-2': 1389,
      'hard-ham-1': 248,
      'spam-1': 481,
      'spam-2': 1328,
    });
  });

  it('splits 80/20 within each class', () => {
    const spam = (labels: Uint8Array) => labels.reduce((sum, label) => sum + label, 0);
    expect(data.train.texts.length).toBe(4734);
    expect(data.test.texts.length).toBe(1184);
    expect(spam(data.train.labels)).toBe(1447);
    expect(spam(data.test.labels)).toBe(362);
  });

  it('depends on the seed alone', () => {
    const again = loadSpamAssassin({ seed: 1 });
    expect(again.test.texts).toEqual(data.test.texts);
    expect(again.test.labels).toEqual(data.test.labels);
    const other = loadSpamAssassin({ seed: 2 });
    expect(other.test.texts).not.toEqual(data.test.texts);
  });

  it('drops the header lines', () => {
    const first = data.train.texts[0]!;
    expect(first.startsWith('[zzzzteana] RE: Alexander\n\nMartin A posted:')).toBe(true);
    const withRelayHeaders = data.train.texts.filter((text) => /^Received: from /m.test(text));
    // The remaining ones quote a forwarded or bounced message in their body.
    expect(withRelayHeaders.length).toBeLessThan(20);
  });

  it('carries the label in bag-of-words features', () => {
    // Logistic regression on word presence over the first 255 words, as a check that the kept
    // text separates the classes before any neural model is trained on it.
    const tokenizer = WordTokenizer.fit(data.train.texts, { maxVocab: 8192, minCount: 2 });
    const features = (texts: string[]) => {
      const encoded = tokenizer.encodeAll(texts, 256);
      return texts.map((_, n) => {
        const row = encoded.ids.subarray(n * 256 + 1, n * 256 + encoded.lengths[n]!);
        return Int32Array.from(new Set(row));
      });
    };
    const train = features(data.train.texts);
    const weights = new Float64Array(tokenizer.size);
    let bias = 0;
    const learningRate = 0.1;
    for (let epoch = 0; epoch < 8; epoch++) {
      for (const n of permutation(train.length, 1, 0, epoch)) {
        let logit = bias;
        for (const id of train[n]!) logit += weights[id]!;
        const error = 1 / (1 + Math.exp(-logit)) - data.train.labels[n]!;
        bias -= learningRate * error;
        for (const id of train[n]!) weights[id] -= learningRate * (error + 1e-4 * weights[id]!);
      }
    }
    let correct = 0;
    features(data.test.texts).forEach((ids, n) => {
      let logit = bias;
      for (const id of ids) logit += weights[id]!;
      if ((logit > 0 ? 1 : 0) === data.test.labels[n]) correct++;
    });
    expect(correct / data.test.texts.length).toBeGreaterThanOrEqual(0.97);
  });
});
