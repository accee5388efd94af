import { allocateArray, type DType, type DTypeArrays, type TensorArray } from './dtype.js';
import { formatShape } from './shape.js';

/** A tensor with its data: an initializer, a constant, or a tensor attribute. */
export interface TensorData<D extends DType = DType> {
  dtype: D;
  /** Static shape; constants never have symbolic dimensions. */
  shape: readonly number[];
  /** Elements in row-major order; float16 and bfloat16 hold raw bits. */
  data: DTypeArrays[D];
}

/** Input accepted by {@link tensor}: a typed array of the dtype, or plain numbers to convert. */
export type TensorInit<D extends DType> = DTypeArrays[D] | readonly number[] | readonly bigint[];

/**
 * Creates a tensor, converting plain numbers to the dtype's array type.
 *
 * @throws RangeError when the number of elements does not match the shape
 */
export function tensor<D extends DType>(
  dtype: D,
  shape: readonly number[],
  values: TensorInit<D>,
): TensorData<D> {
  const size = shape.reduce((a, b) => a * b, 1);
  if (values.length !== size) {
    throw new RangeError(
      `a ${dtype} tensor of shape ${formatShape(shape)} needs ${size} elements, got ${values.length}`,
    );
  }
  return { dtype, shape: [...shape], data: toArray(dtype, values) };
}

/** Creates a 0-d tensor holding `value`. */
export function scalarTensor<D extends DType>(dtype: D, value: number | bigint): TensorData<D> {
  return tensor(dtype, [], [value] as readonly number[]);
}

function toArray<D extends DType>(dtype: D, values: TensorInit<D>): DTypeArrays[D] {
  const out = allocateArray(dtype, values.length);
  if (ArrayBuffer.isView(values) && values.constructor === out.constructor) {
    return values as DTypeArrays[D];
  }
  const target = out as TensorArray;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (target instanceof BigInt64Array || target instanceof BigUint64Array) {
      // 2^63 (how Number rounds the largest int64) would wrap to the smallest int64.
      const number = value as number;
      target[i] = typeof value === 'bigint'
        ? value
        : target instanceof BigInt64Array && number >= 2 ** 63 ? 2n ** 63n - 1n : BigInt(number);
    } else if (Array.isArray(target)) {
      target[i] = String(value);
    } else {
      (target as Exclude<TensorArray, BigInt64Array | BigUint64Array | string[]>)[i] = Number(value);
    }
  }
  return out;
}

/** Returns the elements of a tensor as JavaScript numbers (int64 values must fit in 2^53). */
export function tensorToNumbers(t: TensorData): number[] {
  return Array.from(t.data as ArrayLike<number | bigint | string>, (v) => Number(v));
}
