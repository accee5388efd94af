/**
 * Philox4x32-10, the counter-based generator of Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3" (SC 2011). Every draw is a pure function of the
 * key and the counter, so a value can be recomputed anywhere (on any rank, after
 * a resume) from the same (seed, stream, index) without carrying generator state.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const ROUNDS = 10;
const TWO_POW_32 = 4294967296;
const INV_TWO_POW_24 = 1 / 16777216;
const INV_TWO_POW_53 = 1 / 9007199254740992;

/** Upper 32 bits of the 64-bit product of two uint32 values. */
function mulHi(a: number, b: number): number {
  const aHi = a >>> 16;
  const aLo = a & 0xffff;
  const bHi = b >>> 16;
  const bLo = b & 0xffff;
  const lo = aLo * bLo;
  const mid1 = aHi * bLo;
  const mid2 = aLo * bHi;
  const carry = ((lo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (aHi * bHi + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/**
 * Computes one Philox4x32-10 block for a 128-bit counter and a 64-bit key and
 * writes the four output words into `out`.
 */
export function philox4x32(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
  out: Uint32Array,
): void {
  let c0 = counter[0] >>> 0;
  let c1 = counter[1] >>> 0;
  let c2 = counter[2] >>> 0;
  let c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let round = 0; round < ROUNDS; round++) {
    const hi0 = mulHi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulHi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/** Mixes words into one uint32 (murmur3's finaliser over a running hash). */
export function mix32(words: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const word of words) {
    h = Math.imul(h ^ (word >>> 0), 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}

function checkWord(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value >= TWO_POW_32) {
    throw new RangeError(`${what} must be an integer in [0, 2^32), got ${value}`);
  }
  return value;
}

/**
 * A stream of random numbers addressed by index. The seed is the first key word.
 * The first two stream words fill the upper counter words, and any further words
 * are hashed into the second key word, so streams such as (dropout, step, layer)
 * draw different numbers (up to collisions of that 32-bit hash).
 */
export class Philox {
  private readonly key: [number, number];
  private readonly streamHi: [number, number];
  private readonly block = new Uint32Array(4);
  private blockIndex = -1;

  constructor(seed: number, ...stream: number[]) {
    checkWord(seed, 'seed');
    stream.forEach((word, i) => checkWord(word, `stream word ${i}`));
    this.key = [seed, stream.length > 2 ? mix32(stream.slice(2)) : 0];
    this.streamHi = [stream[0] ?? 0, stream[1] ?? 0];
  }

  /** Returns the uint32 at `index` (an integer in [0, 2^53)). */
  uint32(index: number): number {
    const blockIndex = Math.floor(index / 4);
    if (blockIndex !== this.blockIndex) {
      const lo = blockIndex % TWO_POW_32;
      const hi = Math.floor(blockIndex / TWO_POW_32);
      philox4x32([lo, hi, this.streamHi[0], this.streamHi[1]], this.key, this.block);
      this.blockIndex = blockIndex;
    }
    return this.block[index - blockIndex * 4]!;
  }

  /** Returns a float in [0, 1) with 24 random bits, so it is exact in float32. */
  uniform(index: number): number {
    return (this.uint32(index) >>> 8) * INV_TWO_POW_24;
  }

  /** Returns a float in [0, 1) with 53 random bits, drawn from indices 2i and 2i + 1. */
  uniform53(index: number): number {
    const hi = this.uint32(2 * index) >>> 5;
    const lo = this.uint32(2 * index + 1) >>> 6;
    return (hi * 67108864 + lo) * INV_TWO_POW_53;
  }

  /** Returns a standard normal sample (Box-Muller over the 53-bit uniforms 2i and 2i + 1). */
  normal(index: number): number {
    const u1 = 1 - this.uniform53(2 * index);
    const u2 = this.uniform53(2 * index + 1);
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fills `out[i]` with `uniform(startIndex + i)`. */
  fillUniform(out: Float32Array | Float64Array, startIndex: number): void {
    for (let i = 0; i < out.length; i++) out[i] = this.uniform(startIndex + i);
  }
}

/**
 * Returns a uniformly random permutation of 0 .. n-1 (Fisher-Yates), a pure
 * function of (n, seed, stream).
 */
export function permutation(n: number, seed: number, ...stream: number[]): Uint32Array {
  if (!Number.isInteger(n) || n < 0 || n >= TWO_POW_32) {
    throw new RangeError(`permutation length must be an integer in [0, 2^32), got ${n}`);
  }
  const rng = new Philox(seed, ...stream);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform53(i) * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}
