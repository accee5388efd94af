/** Sampling settings for choosing the next token from a row of logits. */
export interface SamplingOptions {
  /** Divisor of the logits before the softmax, where 0 picks the argmax. */
  temperature: number;
  /** Number of largest logits kept before the softmax, or undefined for the whole vocabulary. */
  topK?: number | undefined;
}

/**
 * Returns the index of the largest logit, the lowest index among equal ones.
 *
 * @throws RangeError when a logit is NaN or +Infinity, or when every logit is -Infinity
 */
export function argmax(logits: ArrayLike<number>): number {
  checkLogits(logits);
  let best = 0;
  for (let i = 1; i < logits.length; i++) {
    if (logits[i]! > logits[best]!) best = i;
  }
  return best;
}

/**
 * Computes the sampling distribution over token ids in float64: the `topK` largest logits
 * divided by the temperature, then a softmax. Ids outside the top k get probability 0. Among
 * equal logits at the top-k boundary, the lower ids are kept. A temperature of 0 puts all the
 * probability on {@link argmax}.
 *
 * @throws RangeError on invalid options or logits (see {@link argmax})
 */
export function tokenProbabilities(logits: ArrayLike<number>, options: SamplingOptions): Float64Array {
  checkSamplingOptions(options);
  const probabilities = new Float64Array(logits.length);
  const best = argmax(logits);
  const maxLogit = logits[best]!;
  if (options.temperature === 0) {
    probabilities[best] = 1;
    return probabilities;
  }

  const keptIds = topKIds(logits, options.topK ?? logits.length);
  // Subtracting the max before dividing keeps exp() finite for any temperature > 0.
  let total = 0;
  for (const id of keptIds) {
    const weight = Math.exp((logits[id]! - maxLogit) / options.temperature);
    probabilities[id] = weight;
    total += weight;
  }
  for (const id of keptIds) probabilities[id]! /= total;
  return probabilities;
}

/**
 * Draws a token id from {@link tokenProbabilities}, given one uniform number in [0, 1). The
 * draw walks the ids in increasing order and returns the first id whose cumulative
 * probability exceeds `uniform`, so the same logits and uniform always give the same id.
 *
 * @throws RangeError on invalid options or logits, or when `uniform` is outside [0, 1)
 */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, uniform: number): number {
  if (!(uniform >= 0 && uniform < 1)) throw new RangeError(`uniform must be in [0, 1), got ${uniform}`);
  const probabilities = tokenProbabilities(logits, options);
  let cumulative = 0;
  let lastPositive = -1;
  for (let id = 0; id < probabilities.length; id++) {
    const p = probabilities[id]!;
    if (p === 0) continue;
    cumulative += p;
    lastPositive = id;
    if (uniform < cumulative) return id;
  }
  // Rounding can leave the cumulative sum just below 1 when uniform is close to 1.
  return lastPositive;
}

/** Returns the ids of the k largest logits, lower ids first among equal logits. */
function topKIds(logits: ArrayLike<number>, k: number): number[] {
  const ids = Array.from({ length: logits.length }, (_, i) => i);
  if (k >= ids.length) return ids;
  ids.sort((a, b) => logits[b]! - logits[a]! || a - b);
  return ids.slice(0, k);
}

/** @throws RangeError when the temperature is negative or not finite, or top-k is not an integer >= 1 */
export function checkSamplingOptions(options: SamplingOptions): void {
  const { temperature, topK } = options;
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new RangeError(`temperature must be a finite number >= 0, got ${temperature}`);
  }
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 1)) {
    throw new RangeError(`topK must be an integer >= 1, got ${topK}`);
  }
}

function checkLogits(logits: ArrayLike<number>): void {
  if (logits.length === 0) throw new RangeError('logits must not be empty');
  let anyFinite = false;
  for (let i = 0; i < logits.length; i++) {
    const value = logits[i]!;
    if (Number.isNaN(value) || value === Infinity) {
      throw new RangeError(`logit of token id ${i} is ${value}, but sampling needs finite logits or -Infinity`);
    }
    if (value !== -Infinity) anyFinite = true;
  }
  if (!anyFinite) throw new RangeError('every logit is -Infinity, so no token can be sampled');
}
