/** Largest token id + 1 that {@link smallInt64} caches. */
const MAX_CACHED = 1 << 20;

/** `bigints[i]` is `BigInt(i)`, grown on demand. */
const bigints: bigint[] = [];

/**
 * Returns `BigInt(value)` for an integer `value`. Values in [0, 2^20) come from a shared table,
 * so writing token ids into a `BigInt64Array` allocates nothing once the table covers the
 * vocabulary.
 */
export function smallInt64(value: number): bigint {
  const cached = bigints[value];
  if (cached !== undefined) return cached;
  if (!Number.isInteger(value) || value < 0 || value >= MAX_CACHED) return BigInt(value);
  for (let i = bigints.length; i <= value; i++) bigints.push(BigInt(i));
  return bigints[value]!;
}
