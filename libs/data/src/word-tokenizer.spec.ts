import { describe, expect, it } from 'vitest';
import {
  CLS_ID,
  fillTokenBatch,
  PAD_ID,
  UNK_ID,
  WordTokenizer,
} from './word-tokenizer.js';

const TRAINING_TEXTS = ['the cat sat', 'The dog sat on the mat', 'a cat, a dog!'];

describe('WordTokenizer.tokenize', () => {
  const tokenizer = WordTokenizer.fit([], { maxVocab: 3 });

  it('lower-cases and splits on non-alphanumerics', () => {
    expect(tokenizer.tokenize("Don't STOP-me now, it's 2002!")).toEqual([
      'don', 't', 'stop', 'me', 'now', 'it', 's', '2002',
    ]);
  });

  it('maps addresses and long numbers to shared tokens', () => {
    const text =
      'See http://x.com/A?b=1 or WWW.foo.org, mail Bob.Smith@Example.com; call 555-1234 or ' +
      '1234567 for $39.95 at https://user@host.net/p';
    expect(tokenizer.tokenize(text)).toEqual([
      'see', '[URL]', 'or', '[URL]', 'mail', '[EMAIL]', 'call', '555', '1234', 'or', '[NUM]',
      'for', '39', '95', 'at', '[URL]',
    ]);
  });

  it('treats non-ASCII letters as separators', () => {
    expect(tokenizer.tokenize('café über 拾金')).toEqual(['caf', 'ber']);
  });
});

describe('WordTokenizer.fit', () => {
  it('orders words by count, ties by word', () => {
    const tokenizer = WordTokenizer.fit(TRAINING_TEXTS, { maxVocab: 100 });
    expect(tokenizer.vocab).toEqual([
      '[PAD]', '[CLS]', '[UNK]', 'the', 'a', 'cat', 'dog', 'sat', 'mat', 'on',
    ]);
  });

  it('applies minCount and maxVocab', () => {
    const frequent = WordTokenizer.fit(TRAINING_TEXTS, { maxVocab: 100, minCount: 2 });
    expect(frequent.vocab.slice(3)).toEqual(['the', 'a', 'cat', 'dog', 'sat']);
    const small = WordTokenizer.fit(TRAINING_TEXTS, { maxVocab: 5 });
    expect(small.size).toBe(5);
    expect(small.vocab.slice(3)).toEqual(['the', 'a']);
  });

  it('does not depend on the order of the texts', () => {
    const forward = WordTokenizer.fit(TRAINING_TEXTS, { maxVocab: 100 });
    const backward = WordTokenizer.fit([...TRAINING_TEXTS].reverse(), { maxVocab: 100 });
    expect(backward.vocab).toEqual(forward.vocab);
  });

  it('BAD CALL - rejects a vocabulary below the special tokens', () => {
    expect(() => WordTokenizer.fit(TRAINING_TEXTS, { maxVocab: 2 })).toThrow(
      'maxVocab must be an integer >= 3 (it counts the special tokens [PAD], [CLS], [UNK]), got 2',
    );
    expect(() => WordTokenizer.fit(TRAINING_TEXTS, { maxVocab: 9, minCount: 0 })).toThrow(
      'minCount must be an integer >= 1, got 0',
    );
  });
});

describe('WordTokenizer.encode', () => {
  const tokenizer = WordTokenizer.fit(TRAINING_TEXTS, { maxVocab: 100 });

  it('starts with [CLS] and pads with [PAD]', () => {
    const { ids, length } = tokenizer.encode('The cat sat', 6);
    expect(Array.from(ids)).toEqual([CLS_ID, 3, 5, 7, PAD_ID, PAD_ID]);
    expect(length).toBe(4);
  });

  it('truncates to seqLen and maps unknown words', () => {
    const { ids, length } = tokenizer.encode('the zebra sat on the mat', 4);
    expect(Array.from(ids)).toEqual([CLS_ID, 3, UNK_ID, 7]);
    expect(length).toBe(4);
    expect(tokenizer.decode(ids)).toBe('[CLS] the [UNK] sat');
  });

  it('encodes empty text as [CLS] alone', () => {
    const { ids, length } = tokenizer.encode('', 3);
    expect(Array.from(ids)).toEqual([CLS_ID, PAD_ID, PAD_ID]);
    expect(length).toBe(1);
  });

  it('encodes all texts row-major', () => {
    const encoded = tokenizer.encodeAll(['cat', 'a dog sat on the mat'], 4);
    expect(encoded.count).toBe(2);
    expect(encoded.seqLen).toBe(4);
    expect(Array.from(encoded.ids)).toEqual([CLS_ID, 5, PAD_ID, PAD_ID, CLS_ID, 4, 6, 7]);
    expect(Array.from(encoded.lengths)).toEqual([2, 4]);
  });

  it('BAD CALL - rejects seqLen 0', () => {
    expect(() => tokenizer.encode('cat', 0)).toThrow('seqLen must be an integer >= 1, got 0');
  });
});

describe('fillTokenBatch', () => {
  const tokenizer = WordTokenizer.fit(TRAINING_TEXTS, { maxVocab: 100 });
  const encoded = tokenizer.encodeAll(['cat', 'dog sat', 'the mat'], 3);

  it('copies the rows of the sample ids as int64', () => {
    const out = new BigInt64Array(6);
    fillTokenBatch(out, encoded, [2, 0]);
    expect(Array.from(out, Number)).toEqual([CLS_ID, 3, 8, CLS_ID, 5, PAD_ID]);
  });

  it('EXPECTED FAILURE - wrong buffer length', () => {
    expect(() => fillTokenBatch(new BigInt64Array(5), encoded, [0, 1])).toThrow(
      'token batch buffer has 5 elements, expected 6 (2 samples x seqLen 3)',
    );
  });

  it('EXPECTED FAILURE - sample id outside the texts', () => {
    expect(() => fillTokenBatch(new BigInt64Array(3), encoded, [3])).toThrow(
      'sample id 3 is outside the 3 encoded texts',
    );
  });
});

describe('WordTokenizer JSON', () => {
  const tokenizer = WordTokenizer.fit(TRAINING_TEXTS, { maxVocab: 100, maxDigits: 2 });

  it('round-trips the tokens and options', () => {
    const json = JSON.stringify(tokenizer);
    expect(JSON.parse(json)).toEqual({ tokens: [...tokenizer.vocab], maxDigits: 2 });
    const restored = WordTokenizer.fromJSON(json);
    expect(restored.vocab).toEqual(tokenizer.vocab);
    expect(restored.maxDigits).toBe(2);
    expect(restored.tokenize('cat 123')).toEqual(['cat', '[NUM]']);
  });

  it('BAD CALL - rejects invalid JSON', () => {
    expect(() => WordTokenizer.fromJSON('{')).toThrow(/word tokenizer is not valid JSON/);
    expect(() => WordTokenizer.fromJSON('["[PAD]"]')).toThrow(
      /must be an object \{"tokens": \[\.\.\.\], "maxDigits": n\}/,
    );
    expect(() => WordTokenizer.fromJSON('{"tokens": ["[PAD]", "[UNK]"]}')).toThrow(
      'word vocabulary must start with [PAD], [CLS], [UNK], but id 1 is "[UNK]"',
    );
    expect(() =>
      WordTokenizer.fromJSON('{"tokens": ["[PAD]", "[CLS]", "[UNK]", "a", "a"], "maxDigits": 4}'),
    ).toThrow('word vocabulary has "a" at ids 3 and 4; every token must occur once');
  });
});
