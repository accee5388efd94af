/**
 * Quantisation arithmetic with ONNX's QuantizeLinear semantics: q = saturate(round(x / scale) +
 * zeroPoint), where round goes to the nearest integer and halves go to the even one, and
 * x' = (q - zeroPoint) * scale dequantises.
 */

/** Integer type of quantised values and its saturation range. */
export type QuantType = 'int8' | 'uint8';

const RANGE: Record<QuantType, [number, number]> = { int8: [-128, 127], uint8: [0, 255] };

/** Rounds to the nearest integer with halves to the even neighbour, as ONNX QuantizeLinear does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round takes halves up, so an odd result of an exact half goes back down.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Quantises one value. */
export function quantizeValue(x: number, scale: number, zeroPoint: number, type: QuantType): number {
  const [lo, hi] = RANGE[type];
  return Math.min(hi, Math.max(lo, roundHalfEven(x / scale) + zeroPoint));
}

/** Scale and zero point of one tensor or channel. */
export interface QuantParams {
  scale: number;
  zeroPoint: number;
}

/**
 * Returns symmetric int8 parameters for values in [-absMax, absMax]: zero point 0 and the scale
 * that maps absMax to 127, so that -absMax maps to -127 and the range is symmetric. An all-zero
 * tensor gets scale 1.
 */
export function symmetricParams(absMax: number): QuantParams {
  return { scale: absMax > 0 ? absMax / 127 : 1, zeroPoint: 0 };
}

/**
 * Returns affine parameters for values in [min, max]. The range is widened to contain 0, so that
 * 0 is exact (padding and ReLU outputs stay exact), as ONNX DynamicQuantizeLinear does.
 */
export function affineParams(min: number, max: number, type: QuantType): QuantParams {
  const [lo, hi] = RANGE[type];
  const f = Math.fround;
  const low = Math.min(0, f(min));
  const high = Math.max(0, f(max));
  // float32 steps throughout, as onnxruntime computes them, so that the stored scale is the same.
  const scale = high > low ? f(f(high - low) / (hi - lo)) : 1;
  return { scale, zeroPoint: Math.min(hi, Math.max(lo, roundHalfEven(f(lo - f(low / scale))))) };
}

/** Integer range of int32, the type of a quantised bias. */
const INT32_RANGE: [number, number] = [-(2 ** 31), 2 ** 31 - 1];

/**
 * Returns the parameters of an activation whose calibrated range is [min, max]: uint8 with a
 * zero point (asymmetric) or int8 with zero point 0 and the scale that maps max(|min|, |max|)
 * to 127 (symmetric). An all-zero range gets scale 1.
 */
export function activationParams(min: number, max: number, symmetric: boolean): QuantParams & { type: QuantType } {
  if (symmetric) {
    const { scale } = symmetricParams(Math.max(Math.abs(min), Math.abs(max)));
    return { scale: Math.fround(scale), zeroPoint: 0, type: 'int8' };
  }
  return { ...affineParams(min, max, 'uint8'), type: 'uint8' };
}

/** A weight matrix [rows, cols] quantised to int8 per tensor or per column. */
export interface QuantizedMatrix {
  values: Int8Array;
  /** One scale, or one per column. */
  scales: Float32Array;
}

/**
 * Quantises a row-major matrix [rows, cols] to symmetric int8, with one scale for the whole
 * matrix or one per column (the output channel of MatMul's B).
 */
export function quantizeMatrix(data: Float32Array, rows: number, cols: number, perChannel: boolean): QuantizedMatrix {
  return quantizeWeight(data, [rows, cols], perChannel ? 1 : undefined);
}

/**
 * Quantises a row-major tensor to symmetric int8 with zero point 0: one scale per slice along
 * `axis` (per channel, as DequantizeLinear's `axis` reads them) or, when `axis` is undefined,
 * one scale for the whole tensor. Each scale maps the slice's largest magnitude to 127.
 */
export function quantizeWeight(data: Float32Array, dims: readonly number[], axis: number | undefined): QuantizedMatrix {
  const channels = axis === undefined ? 1 : dims[axis]!;
  // Elements of one channel are runs of `inner` consecutive values, repeating every channels * inner.
  const inner = axis === undefined ? data.length : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => (axis === undefined ? 0 : Math.floor(i / inner) % channels);
  const absMax = new Float64Array(channels);
  data.forEach((v, i) => {
    const c = channelOf(i);
    absMax[c] = Math.max(absMax[c]!, Math.abs(v));
  });
  const scales = Float32Array.from(absMax, (m) => symmetricParams(m).scale);
  // The scale is the float32 value stored in the file, so the file dequantises to what was rounded here.
  const values = Int8Array.from(data, (v, i) => quantizeValue(v, scales[channelOf(i)]!, 0, 'int8'));
  return { values, scales };
}

/**
 * Quantises a bias to int32 with zero point 0 and scale inputScale * weightScales[c] per output
 * channel c, the bias layout that QLinearConv and QGemm read. Returns the scales too, so that
 * the DequantizeLinear beside the bias uses exactly the float32 values rounded against here.
 * Returns undefined when a value does not fit int32 at its scale.
 */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): { values: Int32Array; scales: Float32Array } | undefined {
  const scales = Float32Array.from(weightScales, (w) => inputScale * w);
  const values = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const q = roundHalfEven(bias[c]! / scales[scales.length === 1 ? 0 : c]!);
    if (q < INT32_RANGE[0] || q > INT32_RANGE[1]) return undefined;
    values[c] = q;
  }
  return { values, scales };
}
