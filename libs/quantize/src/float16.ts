/** IEEE 754 half-precision conversion, for storing float32 values as float16 bits. */

const FLOAT32 = new Float32Array(1);
const FLOAT32_BITS = new Uint32Array(FLOAT32.buffer);

/** Largest finite float16 value. */
export const FLOAT16_MAX = 65504;

/**
 * Returns the float16 bits of `x` rounded to float32 and then to the nearest float16, with ties
 * to even, as onnxruntime's Cast does. Values beyond ±65504 that do not round down to it become
 * ±Infinity, values below 2^-25 in magnitude become ±0, and NaN stays NaN.
 */
export function toFloat16Bits(x: number): number {
  FLOAT32[0] = x;
  const bits = FLOAT32_BITS[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // A float16 subnormal is m * 2^-24, so m is the 24-bit significand shifted right by 14 - halfExponent.
    if (halfExponent < -10) return sign;
    return sign | roundShift(mantissa | 0x800000, 14 - halfExponent);
  }
  // A carry out of the 10 mantissa bits moves into the exponent, which is the correct rounding, up to Infinity.
  return sign | ((halfExponent << 10) + roundShift(mantissa, 13));
}

/** Returns the float64 value of float16 bits. */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Returns `value >> shift` rounded to the nearest integer, ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}
