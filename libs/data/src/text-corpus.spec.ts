import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  defaultTextCorpusPath,
  fillWindowBatch,
  loadTextCorpus,
  validationWindows,
  windowStarts,
} from './text-corpus.js';

function writeText(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'ringtrain-text-')), 'input.txt');
  writeFileSync(path, text, 'utf8');
  return path;
}

describe('loadTextCorpus', () => {
  it('loads the Moby Dick text by default', () => {
    const corpus = loadTextCorpus();
    expect(corpus.path).toBe(defaultTextCorpusPath());
    expect(corpus.characters).toBe(1_190_317);
    expect(corpus.vocab.length).toBe(83);
    expect(corpus.tokenizer.size).toBe(83);
    expect(corpus.train.length).toBe(1_071_285);
    expect(corpus.val.length).toBe(119_032);
    expect(corpus.tokenizer.decode(corpus.train.subarray(0, 20))).toBe('CHAPTER 1. Loomings.');
  });

  it('returns an absolute default path', () => {
    const path = defaultTextCorpusPath();
    expect(isAbsolute(path)).toBe(true);
    expect(existsSync(path)).toBe(true);
  });

  it('splits the first 90% of code points for training', () => {
    const corpus = loadTextCorpus({ path: writeText(`abcd${'\u{1F600}'}abcd${'\u{1F600}'}`) });
    expect(corpus.characters).toBe(10);
    expect(corpus.vocab).toEqual(['a', 'b', 'c', 'd', '\u{1F600}']);
    expect(Array.from(corpus.train)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3]);
    expect(Array.from(corpus.val)).toEqual([4]);
  });

  it('accepts a block size that fits both splits', () => {
    const corpus = loadTextCorpus({ path: writeText('x'.repeat(40)), blockSize: 3 });
    expect(corpus.train.length).toBe(36);
    expect(corpus.val.length).toBe(4);
  });

  it('EXPECTED FAILURE - missing file', () => {
    expect(() => loadTextCorpus({ path: '/nonexistent/input.txt' })).toThrow(
      'text corpus file /nonexistent/input.txt not found; pass data.path with a UTF-8 text file',
    );
  });

  it('EXPECTED FAILURE - empty file', () => {
    const path = writeText('');
    expect(() => loadTextCorpus({ path })).toThrow(`text corpus file ${path} is empty`);
  });

  it('EXPECTED FAILURE - directory as path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-text-'));
    expect(() => loadTextCorpus({ path: dir })).toThrow(
      `text corpus path ${dir} is not a regular file; pass data.path with a UTF-8 text file`,
    );
  });

  it('EXPECTED FAILURE - invalid UTF-8 bytes', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ringtrain-text-')), 'latin1.txt');
    // "ok\n" + a literal U+FFFD + "caf" + Latin-1 e-acute, which is no UTF-8 sequence.
    writeFileSync(path, Buffer.concat([Buffer.from('ok\n\uFFFDcaf', 'utf8'), Buffer.from([0xe9]), Buffer.from(' au lait')]));
    expect(() => loadTextCorpus({ path })).toThrow(
      `text corpus file ${path} is not valid UTF-8: byte 0xe9 at offset 9 (line 2); convert it to UTF-8`,
    );
  });

  it('accepts a literal replacement character', () => {
    const corpus = loadTextCorpus({ path: writeText('a\uFFFDb') });
    expect(corpus.vocab).toEqual(['a', 'b', '\uFFFD']);
  });

  it('EXPECTED FAILURE - text too short for the block size', () => {
    const path = writeText('x'.repeat(40));
    expect(() => loadTextCorpus({ path, blockSize: 4 })).toThrow(
      `text corpus file ${path} is too short for block size 4: its validation split has 4 ` +
        'characters, fewer than one window of 5',
    );
  });
});

describe('windowStarts', () => {
  it('counts every start with a full window', () => {
    expect(windowStarts(10, 3)).toBe(7);
    expect(windowStarts(4, 3)).toBe(1);
    expect(windowStarts(1_071_285, 256)).toBe(1_071_029);
  });

  it('EXPECTED FAILURE - no window fits', () => {
    expect(() => windowStarts(3, 3)).toThrow(
      '3 tokens hold no window of block size 3, which needs 4 tokens',
    );
  });

  it('BAD CALL - rejects a block size of 0', () => {
    expect(() => windowStarts(10, 0)).toThrow('block size must be an integer >= 1, got 0');
  });
});

describe('validationWindows', () => {
  it('lists non-overlapping windows that fit', () => {
    expect(Array.from(validationWindows(10, 3))).toEqual([0, 3, 6]);
    expect(Array.from(validationWindows(9, 3))).toEqual([0, 3]);
    expect(Array.from(validationWindows(4, 3))).toEqual([0]);
  });

  it('covers the Moby Dick validation split', () => {
    const starts = validationWindows(119_032, 256);
    expect(starts.length).toBe(464);
    expect(starts[463]! + 256 + 1).toBeLessThanOrEqual(119_032);
  });

  it('EXPECTED FAILURE - no window fits', () => {
    expect(() => validationWindows(2, 2)).toThrow('2 tokens hold no window of block size 2');
  });
});

describe('fillWindowBatch', () => {
  const tokens = Int32Array.from({ length: 10 }, (_, i) => 100 + i);

  it('writes inputs and next-token targets row by row', () => {
    const inputs = new BigInt64Array(6);
    const targets = new BigInt64Array(6);
    fillWindowBatch(inputs, targets, tokens, [2, 6], 3);
    expect(Array.from(inputs, Number)).toEqual([102, 103, 104, 106, 107, 108]);
    expect(Array.from(targets, Number)).toEqual([103, 104, 105, 107, 108, 109]);
  });

  it('fills a subarray for a short batch', () => {
    const inputs = new BigInt64Array(6).fill(-1n);
    const targets = new BigInt64Array(6).fill(-1n);
    fillWindowBatch(inputs.subarray(0, 3), targets.subarray(0, 3), tokens, [0], 3);
    expect(Array.from(inputs, Number)).toEqual([100, 101, 102, -1, -1, -1]);
    expect(Array.from(targets, Number)).toEqual([101, 102, 103, -1, -1, -1]);
  });

  it('EXPECTED FAILURE - window past the end', () => {
    const buffer = () => new BigInt64Array(3);
    expect(() => fillWindowBatch(buffer(), buffer(), tokens, [7], 3)).toThrow(
      'window start 7 is outside [0, 6], the starts of windows of block size 3 in 10 tokens',
    );
  });

  it('EXPECTED FAILURE - wrong buffer length', () => {
    expect(() =>
      fillWindowBatch(new BigInt64Array(6), new BigInt64Array(5), tokens, [0, 1], 3),
    ).toThrow('target batch buffer has 5 elements, expected 6 (2 windows x block size 3)');
  });
});
