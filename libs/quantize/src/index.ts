export {
  quantizeDynamic,
  type DynamicQuantizeOptions,
  type DynamicQuantizeResult,
  type QuantizedNode,
  type SkippedNode,
} from './dynamic.js';
export {
  affineParams,
  quantizeMatrix,
  quantizeValue,
  roundHalfEven,
  symmetricParams,
  type QuantizedMatrix,
  type QuantParams,
  type QuantType,
} from './quantize-math.js';
