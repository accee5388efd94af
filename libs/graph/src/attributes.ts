import type { TensorData } from './tensor.js';

/** Type of an ONNX node attribute. */
export type AttributeType = 'int' | 'float' | 'string' | 'tensor' | 'ints' | 'floats' | 'strings';

/** A node attribute with its ONNX type, so that 1 as an int and 1.0 as a float stay distinct. */
export type Attribute =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: TensorData }
  | { type: 'ints'; value: number[] }
  | { type: 'floats'; value: number[] }
  | { type: 'strings'; value: string[] };

/**
 * An attribute as callers write it: a plain value, typed by the op's schema, or an explicit
 * {@link Attribute}.
 */
export type AttributeInput =
  | number
  | string
  | boolean
  | readonly number[]
  | readonly string[]
  | TensorData
  | Attribute;

/** Attributes of a node by name. */
export type Attributes = Readonly<Record<string, Attribute>>;

function isAttribute(value: AttributeInput): value is Attribute {
  return typeof value === 'object' && 'type' in value && 'value' in value && !('dtype' in value);
}

function isTensorData(value: AttributeInput): value is TensorData {
  return typeof value === 'object' && 'dtype' in value && 'data' in value;
}

/**
 * Converts an attribute as written by a caller to the type the op's schema declares.
 *
 * @returns the typed attribute, or a message saying why the value does not fit
 */
export function toAttribute(value: AttributeInput, type: AttributeType): Attribute | string {
  if (isAttribute(value)) {
    return value.type === type ? value : `expected a ${type} attribute, got a ${value.type}`;
  }
  const got = isTensorData(value) ? 'a tensor' : JSON.stringify(value);
  switch (type) {
    case 'int':
      if (typeof value === 'boolean') return { type, value: value ? 1 : 0 };
      if (typeof value === 'number' && Number.isInteger(value)) return { type, value };
      return `expected an integer, got ${got}`;
    case 'float':
      if (typeof value === 'number') return { type, value };
      return `expected a number, got ${got}`;
    case 'string':
      if (typeof value === 'string') return { type, value };
      return `expected a string, got ${got}`;
    case 'tensor':
      if (isTensorData(value)) return { type, value };
      return `expected a tensor, got ${got}`;
    case 'ints':
      if (Array.isArray(value) && value.every((v) => Number.isInteger(v))) {
        return { type, value: [...(value as number[])] };
      }
      return `expected an array of integers, got ${got}`;
    case 'floats':
      if (Array.isArray(value) && value.every((v) => typeof v === 'number')) {
        return { type, value: [...(value as number[])] };
      }
      return `expected an array of numbers, got ${got}`;
    case 'strings':
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
        return { type, value: [...(value as string[])] };
      }
      return `expected an array of strings, got ${got}`;
  }
}
