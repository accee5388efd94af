import { smallInt64 } from './int64.js';

/** Id of `[PAD]`, which fills a sequence after its last token. */
export const PAD_ID = 0;
/** Id of `[CLS]`, the first token of every encoded sequence. */
export const CLS_ID = 1;
/** Id of `[UNK]`, which replaces words outside the vocabulary. */
export const UNK_ID = 2;

const SPECIAL_TOKENS = ['[PAD]', '[CLS]', '[UNK]'] as const;

/** Shared token of every web address (`http://...`, `https://...`, `www....`). */
export const URL_TOKEN = '[URL]';
/** Shared token of every e-mail address. */
export const EMAIL_TOKEN = '[EMAIL]';
/** Shared token of every run of more than `maxDigits` digits. */
export const NUMBER_TOKEN = '[NUM]';

/**
 * One match per token of lower-cased text: a web address, an e-mail address, or a run of ASCII
 * letters and digits. Every other character separates tokens.
 */
const TOKEN_PATTERN =
  /(?:https?:\/\/|www\.)[^\s<>"'()]+|[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)+|[a-z0-9]+/g;

/** Options of {@link WordTokenizer.fit}. */
export interface WordTokenizerFitOptions {
  /** Maximum vocabulary size, counting the three special tokens. */
  maxVocab: number;
  /**
   * Minimum number of occurrences in the training texts for a word to enter the vocabulary.
   * @defaultValue 1
   */
  minCount?: number;
  /**
   * Maximum length of a run of digits that stays a word of its own. Longer runs become `[NUM]`.
   * @defaultValue 4
   */
  maxDigits?: number;
}

/** The JSON form of a {@link WordTokenizer}, stored in model metadata. */
export interface WordTokenizerJSON {
  /** Tokens in id order, starting with `[PAD]`, `[CLS]`, `[UNK]`. */
  tokens: string[];
  maxDigits: number;
}

/** One text as token ids. */
export interface EncodedText {
  /** `seqLen` ids: `[CLS]`, the first `seqLen - 1` words, then `[PAD]`. */
  ids: Int32Array;
  /** Ids before the padding, `[CLS]` included. */
  length: number;
}

/** Texts as token ids, row-major `[count, seqLen]`. */
export interface EncodedTexts {
  ids: Int32Array;
  /** Ids before the padding of each row, `[CLS]` included. */
  lengths: Int32Array;
  count: number;
  seqLen: number;
}

/**
 * Word-level tokenizer for e-mail text. A text is lower-cased and cut into runs of ASCII
 * letters and digits. Web addresses, e-mail addresses and runs of more than `maxDigits` digits
 * map to the shared tokens `[URL]`, `[EMAIL]` and `[NUM]`. Ids 0, 1 and 2 are `[PAD]`, `[CLS]`
 * and `[UNK]`, and the words follow in order of descending count in the texts the tokenizer was
 * fitted on, ties broken by the word.
 */
export class WordTokenizer {
  /** Tokens in id order. */
  readonly vocab: readonly string[];
  readonly maxDigits: number;
  private readonly ids = new Map<string, number>();

  /**
   * @param vocab - tokens in id order, starting with `[PAD]`, `[CLS]`, `[UNK]`
   * @throws Error when the special tokens are missing or a token occurs twice
   * @throws RangeError on a `maxDigits` below 1
   */
  constructor(vocab: readonly string[], maxDigits = 4) {
    if (!Number.isInteger(maxDigits) || maxDigits < 1) {
      throw new RangeError(`maxDigits must be an integer >= 1, got ${maxDigits}`);
    }
    SPECIAL_TOKENS.forEach((token, id) => {
      if (vocab[id] !== token) {
        throw new Error(
          `word vocabulary must start with ${SPECIAL_TOKENS.join(', ')}, but id ${id} is ` +
            `${JSON.stringify(vocab[id])}`,
        );
      }
    });
    vocab.forEach((token, id) => {
      if (typeof token !== 'string' || token === '') {
        throw new Error(`word vocabulary entry ${id} is ${JSON.stringify(token)}, not a word`);
      }
      const previous = this.ids.get(token);
      if (previous !== undefined) {
        throw new Error(
          `word vocabulary has ${JSON.stringify(token)} at ids ${previous} and ${id}; every ` +
            'token must occur once',
        );
      }
      this.ids.set(token, id);
    });
    this.vocab = Object.freeze([...vocab]);
    this.maxDigits = maxDigits;
  }

  /**
   * Builds the vocabulary from `texts`, which should be the training split only so that test
   * words stay unknown. Words with fewer than `minCount` occurrences are dropped, and of the
   * rest the `maxVocab - 3` most frequent are kept.
   *
   * @throws RangeError on a `maxVocab` below 3 or a `minCount` below 1
   */
  static fit(texts: Iterable<string>, options: WordTokenizerFitOptions): WordTokenizer {
    const { maxVocab } = options;
    const minCount = options.minCount ?? 1;
    const maxDigits = options.maxDigits ?? 4;
    if (!Number.isInteger(maxVocab) || maxVocab < SPECIAL_TOKENS.length) {
      throw new RangeError(
        `maxVocab must be an integer >= ${SPECIAL_TOKENS.length} (it counts the special ` +
          `tokens ${SPECIAL_TOKENS.join(', ')}), got ${maxVocab}`,
      );
    }
    if (!Number.isInteger(minCount) || minCount < 1) {
      throw new RangeError(`minCount must be an integer >= 1, got ${minCount}`);
    }
    const counts = new Map<string, number>();
    for (const text of texts) {
      forEachWord(text, maxDigits, (word) => {
        counts.set(word, (counts.get(word) ?? 0) + 1);
        return true;
      });
    }
    const words = Array.from(counts)
      .filter(([, count]) => count >= minCount)
      .sort(compareWordCounts)
      .slice(0, maxVocab - SPECIAL_TOKENS.length)
      .map(([word]) => word);
    return new WordTokenizer([...SPECIAL_TOKENS, ...words], maxDigits);
  }

  /**
   * Parses the JSON that `JSON.stringify(tokenizer)` writes, see {@link WordTokenizerJSON}.
   *
   * @throws Error when `json` is not valid JSON or not a tokenizer
   */
  static fromJSON(json: string): WordTokenizer {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw new Error(`word tokenizer is not valid JSON: ${(error as Error).message}`);
    }
    const value = parsed as Partial<WordTokenizerJSON> | null;
    if (value === null || typeof value !== 'object' || !Array.isArray(value.tokens)) {
      throw new Error(
        `word tokenizer JSON must be an object {"tokens": [...], "maxDigits": n}, got ` +
          `${json.slice(0, 40)}`,
      );
    }
    return new WordTokenizer(value.tokens, value.maxDigits);
  }

  /** Number of tokens, the three special tokens included. */
  get size(): number {
    return this.vocab.length;
  }

  /** Returns the words of `text` after lower-casing and the shared tokens, in order. */
  tokenize(text: string): string[] {
    const words: string[] = [];
    forEachWord(text, this.maxDigits, (word) => {
      words.push(word);
      return true;
    });
    return words;
  }

  /** Returns the id of a token, or `[UNK]` for a token outside the vocabulary. */
  idOf(token: string): number {
    return this.ids.get(token) ?? UNK_ID;
  }

  /**
   * Returns `[CLS]` and the ids of the first `seqLen - 1` words of `text`, padded with `[PAD]`
   * to `seqLen`.
   *
   * @throws RangeError on a `seqLen` below 1
   */
  encode(text: string, seqLen: number): EncodedText {
    checkSeqLen(seqLen);
    const ids = new Int32Array(seqLen);
    return { ids, length: this.encodeInto(text, ids) };
  }

  /**
   * Writes `[CLS]` and the ids of the first `row.length - 1` words of `text` into `row`, and
   * `[PAD]` after them. Returns the number of ids before the padding.
   */
  encodeInto(text: string, row: Int32Array): number {
    if (row.length === 0) return 0;
    row[0] = CLS_ID;
    let length = 1;
    forEachWord(text, this.maxDigits, (word) => {
      if (length >= row.length) return false;
      row[length++] = this.idOf(word);
      return true;
    });
    row.fill(PAD_ID, length);
    return length;
  }

  /**
   * Encodes every text into one row-major `[count, seqLen]` array, so that a trainer can fill
   * its batches with {@link fillTokenBatch} without tokenizing again.
   *
   * @throws RangeError on a `seqLen` below 1
   */
  encodeAll(texts: readonly string[], seqLen: number): EncodedTexts {
    checkSeqLen(seqLen);
    const ids = new Int32Array(texts.length * seqLen);
    const lengths = new Int32Array(texts.length);
    texts.forEach((text, n) => {
      lengths[n] = this.encodeInto(text, ids.subarray(n * seqLen, (n + 1) * seqLen));
    });
    return { ids, lengths, count: texts.length, seqLen };
  }

  /**
   * Returns the tokens of `ids` joined by spaces, without padding.
   *
   * @throws RangeError on an id outside [0, size)
   */
  decode(ids: ArrayLike<number>): string {
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const token = this.vocab[id];
      if (token === undefined) {
        throw new RangeError(
          `token id ${id} at position ${i} is outside the vocabulary of ${this.size} tokens`,
        );
      }
      if (id !== PAD_ID) tokens.push(token);
    }
    return tokens.join(' ');
  }

  /** Returns the tokens in id order and `maxDigits`, the form that `fromJSON` reads. */
  toJSON(): WordTokenizerJSON {
    return { tokens: [...this.vocab], maxDigits: this.maxDigits };
  }
}

/**
 * Writes the pre-encoded rows `sampleIds` of `encoded` into `out` as int64, row-major
 * `[sampleIds.length, seqLen]`. It allocates no buffers.
 *
 * @param out - exactly `sampleIds.length * encoded.seqLen` elements; pass a `subarray` for a
 *   short batch
 * @throws RangeError on a wrong `out` length or a sample id outside the encoded texts
 */
export function fillTokenBatch(
  out: BigInt64Array,
  encoded: EncodedTexts,
  sampleIds: ArrayLike<number>,
): void {
  const { ids, count, seqLen } = encoded;
  if (out.length !== sampleIds.length * seqLen) {
    throw new RangeError(
      `token batch buffer has ${out.length} elements, expected ${sampleIds.length * seqLen} ` +
        `(${sampleIds.length} samples x seqLen ${seqLen}); pass out.subarray(0, ` +
        `${sampleIds.length * seqLen}) for a short batch`,
    );
  }
  for (let n = 0; n < sampleIds.length; n++) {
    const id = sampleIds[n]!;
    if (!Number.isInteger(id) || id < 0 || id >= count) {
      throw new RangeError(`sample id ${id} is outside the ${count} encoded texts`);
    }
    const src = id * seqLen;
    const dst = n * seqLen;
    for (let i = 0; i < seqLen; i++) out[dst + i] = smallInt64(ids[src + i]!);
  }
}

/** Orders by descending count, then by word in UTF-16 code unit order. */
function compareWordCounts(
  [wordA, countA]: [string, number],
  [wordB, countB]: [string, number],
): number {
  if (countA !== countB) return countB - countA;
  if (wordA < wordB) return -1;
  return wordA > wordB ? 1 : 0;
}

/** Calls `visit` with each word of `text` until it returns false. */
function forEachWord(text: string, maxDigits: number, visit: (word: string) => boolean): void {
  const pattern = new RegExp(TOKEN_PATTERN.source, 'g');
  const lower = text.toLowerCase();
  for (let match = pattern.exec(lower); match !== null; match = pattern.exec(lower)) {
    if (!visit(wordOf(match[0], maxDigits))) return;
  }
}

function wordOf(token: string, maxDigits: number): string {
  // A web address may contain "@", so it is recognised first.
  if (/^(?:https?:\/\/|www\.)/.test(token)) return URL_TOKEN;
  if (token.includes('@')) return EMAIL_TOKEN;
  if (token.length > maxDigits && /^[0-9]+$/.test(token)) return NUMBER_TOKEN;
  return token;
}

function checkSeqLen(seqLen: number): void {
  if (!Number.isInteger(seqLen) || seqLen < 1) {
    throw new RangeError(`seqLen must be an integer >= 1, got ${seqLen}`);
  }
}
