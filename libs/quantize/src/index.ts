export {
  quantizeDynamic,
  type DynamicQuantizeOptions,
  type DynamicQuantizeResult,
  type QuantizedNode,
} from './dynamic.js';
export {
  quantizeStatic,
  type QuantizedActivation,
  type StaticQuantizedNode,
  type StaticQuantizeOptions,
  type StaticQuantizeResult,
} from './static.js';
export { calibrateRanges, type CalibrationBatch, type CalibrationOptions } from './calibrate.js';
export {
  entropyThreshold,
  percentileRange,
  QUANTIZED_BINS,
  type CalibrationMethod,
  type TensorRange,
} from './calibration-methods.js';
export { Histogram, HISTOGRAM_BINS } from './histogram.js';
export type { NodeChoice, SkippedNode } from './node-choice.js';
export {
  activationParams,
  affineParams,
  quantizeBias,
  quantizeMatrix,
  quantizeValue,
  quantizeWeight,
  roundHalfEven,
  symmetricParams,
  type QuantizedMatrix,
  type QuantParams,
  type QuantType,
} from './quantize-math.js';
export {
  convertToFloat16,
  type Float16Options,
  type Float16Result,
  type Float16Weight,
  type Float32Kept,
} from './float16-model.js';
export { FLOAT16_MAX, fromFloat16Bits, toFloat16Bits } from './float16.js';
