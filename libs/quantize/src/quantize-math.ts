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
  const scales = new Float32Array(perChannel ? cols : 1);
  const absMax = new Float64Array(scales.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const k = perChannel ? c : 0;
      absMax[k] = Math.max(absMax[k]!, Math.abs(data[r * cols + c]!));
    }
  }
  absMax.forEach((m, k) => (scales[k] = symmetricParams(m).scale));
  const values = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      // The scale is the float32 value stored in the file, so the file dequantises to what was rounded here.
      values[r * cols + c] = quantizeValue(data[r * cols + c]!, scales[perChannel ? c : 0]!, 0, 'int8');
    }
  }
  return { values, scales };
}
