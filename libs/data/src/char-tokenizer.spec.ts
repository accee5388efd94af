import { describe, expect, it } from 'vitest';
import { CharTokenizer, charVocabulary } from './char-tokenizer.js';

// U+1F600 is stored as the surrogates D83D DE00, so UTF-16 order puts it before U+FFFD.
const ASTRAL = '\u{1F600}';

describe('charVocabulary', () => {
  it('sorts distinct characters by code point', () => {
    expect(charVocabulary('banana\n')).toEqual(['\n', 'a', 'b', 'n']);
  });

  it('keeps astral characters whole', () => {
    expect(charVocabulary(`b${ASTRAL}a\uFFFDa${ASTRAL}`)).toEqual(['a', 'b', '\uFFFD', ASTRAL]);
  });

  it('returns nothing for empty text', () => {
    expect(charVocabulary('')).toEqual([]);
  });
});

describe('CharTokenizer', () => {
  const tokenizer = new CharTokenizer(charVocabulary(`hello ${ASTRAL} world`));

  it('encodes characters to vocabulary ids', () => {
    expect(tokenizer.size).toBe(9);
    expect(Array.from(tokenizer.encode('hello'))).toEqual([3, 2, 4, 4, 5]);
  });

  it('counts astral characters as one id', () => {
    const ids = tokenizer.encode(`${ASTRAL}o${ASTRAL}`);
    expect(ids.length).toBe(3);
    expect(ids[0]).toBe(8);
    expect(tokenizer.decode(ids)).toBe(`${ASTRAL}o${ASTRAL}`);
  });

  it('round-trips text through encode and decode', () => {
    const text = `world ${ASTRAL} hello`;
    expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
  });

  it('serialises the vocabulary as a JSON array', () => {
    const json = JSON.stringify(tokenizer);
    expect(json).toBe(JSON.stringify([' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w', ASTRAL]));
    const restored = CharTokenizer.fromJSON(json);
    expect(restored.vocab).toEqual(tokenizer.vocab);
    expect(Array.from(restored.encode('old'))).toEqual(Array.from(tokenizer.encode('old')));
  });

  it('EXPECTED FAILURE - character outside the vocabulary', () => {
    expect(() => tokenizer.encode(`${ASTRAL}hex`)).toThrow(
      'character "x" (U+0078) at position 3 is not in the vocabulary of 9 characters',
    );
  });

  it('EXPECTED FAILURE - id outside the vocabulary', () => {
    expect(() => tokenizer.decode([0, 9])).toThrow(
      'token id 9 at position 1 is outside the vocabulary of 9 characters',
    );
  });

  it('BAD CALL - rejects invalid vocabularies', () => {
    expect(() => new CharTokenizer([])).toThrow(/character vocabulary is empty/);
    expect(() => new CharTokenizer(['a', 'bc'])).toThrow(/entry 1 is "bc"; every entry must be/);
    expect(() => new CharTokenizer(['a', 'b', 'a'])).toThrow(
      /has "a" \(U\+0061\) at ids 0 and 2; every character must occur once/,
    );
  });

  it('BAD CALL - rejects invalid JSON', () => {
    expect(() => CharTokenizer.fromJSON('[')).toThrow(/character vocabulary is not valid JSON/);
    expect(() => CharTokenizer.fromJSON('{"a": 1}')).toThrow(/must be an array of characters/);
    expect(() => CharTokenizer.fromJSON('[1]')).toThrow(/entry 0 is 1; every entry must be/);
  });
});
