import { onnx } from '@ringtrain/proto';

/** Element type of a tensor, named as onnxruntime-node's `Tensor.type` names it. */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string';

/** The floating-point element types, the only ones that carry gradients. */
export type FloatDType = 'float32' | 'float64' | 'float16' | 'bfloat16';

/** Typed array that stores the elements of each dtype (float16 and bfloat16 as raw bits). */
export interface DTypeArrays {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  string: string[];
}

/** Any array that stores tensor elements. */
export type TensorArray = DTypeArrays[DType];

interface DTypeInfo {
  onnx: onnx.TensorProto_DataType;
  /** Bytes per element in raw_data; 0 for strings, which have no raw encoding. */
  bytes: number;
}

const DTYPES: Record<DType, DTypeInfo> = {
  float32: { onnx: onnx.TensorProto_DataType.FLOAT, bytes: 4 },
  float64: { onnx: onnx.TensorProto_DataType.DOUBLE, bytes: 8 },
  float16: { onnx: onnx.TensorProto_DataType.FLOAT16, bytes: 2 },
  bfloat16: { onnx: onnx.TensorProto_DataType.BFLOAT16, bytes: 2 },
  int8: { onnx: onnx.TensorProto_DataType.INT8, bytes: 1 },
  int16: { onnx: onnx.TensorProto_DataType.INT16, bytes: 2 },
  int32: { onnx: onnx.TensorProto_DataType.INT32, bytes: 4 },
  int64: { onnx: onnx.TensorProto_DataType.INT64, bytes: 8 },
  uint8: { onnx: onnx.TensorProto_DataType.UINT8, bytes: 1 },
  uint16: { onnx: onnx.TensorProto_DataType.UINT16, bytes: 2 },
  uint32: { onnx: onnx.TensorProto_DataType.UINT32, bytes: 4 },
  uint64: { onnx: onnx.TensorProto_DataType.UINT64, bytes: 8 },
  bool: { onnx: onnx.TensorProto_DataType.BOOL, bytes: 1 },
  string: { onnx: onnx.TensorProto_DataType.STRING, bytes: 0 },
};

const BY_ONNX = new Map<number, DType>(
  (Object.keys(DTYPES) as DType[]).map((dtype) => [DTYPES[dtype].onnx, dtype]),
);

/** Returns whether `dtype` is a floating-point type. */
export function isFloatDType(dtype: DType): dtype is FloatDType {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

/** Returns the ONNX `TensorProto.DataType` number of `dtype`. */
export function dtypeToOnnx(dtype: DType): number {
  return DTYPES[dtype].onnx;
}

/**
 * Returns the dtype of an ONNX `TensorProto.DataType` number.
 *
 * @throws TypeError when ringtrain does not support that element type
 */
export function dtypeFromOnnx(dataType: number): DType {
  const dtype = BY_ONNX.get(dataType);
  if (dtype === undefined) {
    throw new TypeError(`unsupported ONNX tensor element type ${dataType}`);
  }
  return dtype;
}

/** Returns the size of one element of `dtype` in raw_data, in bytes (0 for strings). */
export function dtypeBytes(dtype: DType): number {
  return DTYPES[dtype].bytes;
}

/** Allocates a zero-filled array of `length` elements for `dtype`. */
export function allocateArray<D extends DType>(dtype: D, length: number): DTypeArrays[D] {
  return allocate(dtype, length) as DTypeArrays[D];
}

function allocate(dtype: DType, length: number): TensorArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'float16':
    case 'bfloat16':
    case 'uint16':
      return new Uint16Array(length);
    case 'int8':
      return new Int8Array(length);
    case 'int16':
      return new Int16Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'int64':
      return new BigInt64Array(length);
    case 'uint8':
    case 'bool':
      return new Uint8Array(length);
    case 'uint32':
      return new Uint32Array(length);
    case 'uint64':
      return new BigUint64Array(length);
    case 'string':
      return new Array<string>(length).fill('');
  }
}
