export type { Attribute, AttributeInput, Attributes, AttributeType } from './attributes.js';
export { gelu, geluTanh, scalarLike, silu } from './composite.js';
export {
  allocateArray,
  dtypeBytes,
  dtypeFromOnnx,
  dtypeToOnnx,
  isFloatDType,
  type DType,
  type DTypeArrays,
  type FloatDType,
  type TensorArray,
} from './dtype.js';
export { Graph, type Node, type NodeOptions, type Value, type ValueKind } from './graph.js';
export type { InferContext, OutputType } from './infer-context.js';
export { OP_SCHEMAS, type OpSchema } from './op-schemas.js';
export { OnnxFormatError, parseModel, readModelMetadata, readTensor, type ParsedModel } from './onnx-reader.js';
export { readWeights, type StoredWeight, type WeightUse } from './onnx-weights.js';
export {
  IR_VERSION,
  OPSET_VERSION,
  serializeModel,
  tensorProto,
  toModelProto,
  type ModelOptions,
} from './onnx-writer.js';
export {
  broadcastShapes,
  formatShape,
  isStaticShape,
  normalizeAxis,
  productDim,
  sameShape,
  ShapeError,
  staticSize,
  type Dim,
  type Shape,
} from './shape.js';
export { scalarTensor, tensor, tensorToNumbers, type TensorData, type TensorInit } from './tensor.js';
