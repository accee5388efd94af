/**
 * Returns the sorted distinct characters of `text`, the vocabulary rule of nanoGPT's
 * character-level data preparation (Python's `sorted(set(text))`). A character is a Unicode
 * code point, so a character outside the Basic Multilingual Plane counts once and is never split
 * into its two UTF-16 surrogates. Characters are ordered by code point, which is not the
 * UTF-16 order of `Array.prototype.sort` for such characters.
 */
export function charVocabulary(text: string): string[] {
  const codePoints = new Set<number>();
  for (const char of text) codePoints.add(char.codePointAt(0)!);
  return Array.from(codePoints)
    .sort((a, b) => a - b)
    .map((codePoint) => String.fromCodePoint(codePoint));
}

/** Maps each character (Unicode code point) of a fixed vocabulary to its index and back. */
export class CharTokenizer {
  /** Characters in id order; id `i` is `vocab[i]`. */
  readonly vocab: readonly string[];
  private readonly ids = new Map<number, number>();

  /**
   * @param vocab - distinct single characters in id order, usually {@link charVocabulary} of the
   *   training text
   * @throws Error when the vocabulary is empty, or when an entry is not exactly one code point
   *   or occurs twice
   */
  constructor(vocab: readonly string[]) {
    if (vocab.length === 0) {
      throw new Error('character vocabulary is empty; build it from a non-empty text');
    }
    vocab.forEach((char, id) => {
      if (typeof char !== 'string' || [...char].length !== 1) {
        throw new Error(
          `character vocabulary entry ${id} is ${JSON.stringify(char)}; every entry must be ` +
            'exactly one Unicode character',
        );
      }
      const codePoint = char.codePointAt(0)!;
      const previous = this.ids.get(codePoint);
      if (previous !== undefined) {
        throw new Error(
          `character vocabulary has ${JSON.stringify(char)} (U+${hexCodePoint(codePoint)}) at ` +
            `ids ${previous} and ${id}; every character must occur once`,
        );
      }
      this.ids.set(codePoint, id);
    });
    this.vocab = Object.freeze([...vocab]);
  }

  /**
   * Parses the JSON array of characters in id order that {@link CharTokenizer.toJSON} writes.
   *
   * @throws Error when `json` is not valid JSON or not an array of distinct single characters
   */
  static fromJSON(json: string): CharTokenizer {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw new Error(`character vocabulary is not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(parsed)) {
      throw new Error(
        `character vocabulary JSON must be an array of characters in id order, got ` +
          `${json.slice(0, 40)}`,
      );
    }
    return new CharTokenizer(parsed as string[]);
  }

  /** Number of characters in the vocabulary. */
  get size(): number {
    return this.vocab.length;
  }

  /**
   * Returns the id of each character of `text`.
   *
   * @throws Error naming the first character that is not in the vocabulary, its code point and
   *   its position in code points
   */
  encode(text: string): Int32Array {
    const out = new Int32Array(text.length);
    let count = 0;
    for (const char of text) {
      const codePoint = char.codePointAt(0)!;
      const id = this.ids.get(codePoint);
      if (id === undefined) {
        throw new Error(
          `character ${JSON.stringify(char)} (U+${hexCodePoint(codePoint)}) at position ` +
            `${count} is not in the vocabulary of ${this.size} characters; build the ` +
            'vocabulary from a text that contains it',
        );
      }
      out[count++] = id;
    }
    // `text.length` counts UTF-16 code units, which is more than `count` when the text has
    // characters outside the Basic Multilingual Plane.
    return count === out.length ? out : out.slice(0, count);
  }

  /**
   * Returns the text of `ids`.
   *
   * @throws RangeError on an id outside [0, size)
   */
  decode(ids: ArrayLike<number>): string {
    let text = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const char = this.vocab[id];
      if (char === undefined) {
        throw new RangeError(
          `token id ${id} at position ${i} is outside the vocabulary of ${this.size} characters`,
        );
      }
      text += char;
    }
    return text;
  }

  /**
   * Returns the characters in id order, so that `JSON.stringify(tokenizer)` is the JSON array
   * that {@link CharTokenizer.fromJSON} reads.
   */
  toJSON(): string[] {
    return [...this.vocab];
  }
}

function hexCodePoint(codePoint: number): string {
  return codePoint.toString(16).toUpperCase().padStart(4, '0');
}
