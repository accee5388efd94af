import { Philox, RandomStream } from '@ringtrain/random';

/** Options of {@link fillDropoutMask}. */
export interface DropoutMaskOptions {
  /** Run seed, an integer in [0, 2^32). */
  seed: number;
  /** Global optimiser step. */
  step: number;
  /** Index of the dropout layer in the model, so that layers draw independent masks. */
  layer: number;
  /** Global sample id of each row of the mask (the ids of the data set, not batch positions). */
  sampleIds: ArrayLike<number>;
  /** Units per row. */
  width: number;
  /** Probability of keeping a unit, in (0, 1]; the config's `model.dropout` is `1 - keepProb`. */
  keepProb: number;
}

/**
 * Writes an inverted-dropout mask: each element is `1 / keepProb` with probability `keepProb` and 0
 * otherwise, so that multiplying by it keeps the expected activation. Element (row, unit) is drawn
 * from (seed, step, sampleIds[row], layer, unit) alone. A rank with part of a global batch
 * therefore writes exactly the rows that a single process with the whole batch writes for the
 * same samples.
 *
 * @param out - exactly `sampleIds.length * width` floats
 * @throws RangeError on a wrong `out` length, a `keepProb` outside (0, 1], or an id or counter
 *   outside [0, 2^32)
 */
export function fillDropoutMask(out: Float32Array, options: DropoutMaskOptions): void {
  const { seed, step, layer, sampleIds, width, keepProb } = options;
  if (!(keepProb > 0 && keepProb <= 1)) {
    throw new RangeError(`keepProb must be in (0, 1], got ${keepProb}`);
  }
  if (!Number.isInteger(width) || width < 0) {
    throw new RangeError(`dropout mask width must be an integer >= 0, got ${width}`);
  }
  if (out.length !== sampleIds.length * width) {
    throw new RangeError(
      `dropout mask buffer has ${out.length} elements, expected ${sampleIds.length * width} ` +
        `(${sampleIds.length} samples x width ${width})`,
    );
  }
  const scale = 1 / keepProb;
  for (let n = 0; n < sampleIds.length; n++) {
    const row = out.subarray(n * width, (n + 1) * width);
    // The first two stream words fill the Philox counter, the rest are hashed into its key.
    new Philox(seed, RandomStream.dropout, step, sampleIds[n]!, layer).fillUniform(row, 0);
    for (let i = 0; i < width; i++) row[i] = row[i]! < keepProb ? scale : 0;
  }
}
