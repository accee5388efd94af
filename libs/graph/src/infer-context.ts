import type { Attributes } from './attributes.js';
import type { DType } from './dtype.js';
import type { Value } from './graph.js';
import { ShapeError, type Dim } from './shape.js';
import type { TensorData } from './tensor.js';

interface AttributeValues {
  int: number;
  float: number;
  string: string;
  tensor: TensorData;
  ints: number[];
  floats: number[];
  strings: string[];
}

/** Inferred type of one node output. */
export interface OutputType {
  dtype: DType;
  shape: readonly Dim[];
  /** Data, when the output is a constant (the `Constant` op). */
  data?: TensorData;
  /** Known elements of a 1-D int64 output; see {@link Value.elements}. */
  elements?: readonly Dim[];
}

/** The node being added, as a shape inference function reads it. */
export interface InferContext {
  readonly opType: string;
  readonly nodeName: string;
  /** Number of outputs the caller asked for. */
  readonly outputCount: number;
  /** Number of input slots given, absent optional ones included. */
  readonly inputCount: number;
  /** Returns a required input; throws ShapeError when it is absent. */
  input(index: number): Value;
  /** Returns an optional input, or undefined when it is absent. */
  optional(index: number): Value | undefined;
  /** Returns whether the attribute is set. */
  has(name: string): boolean;
  int(name: string, fallback?: number): number;
  float(name: string, fallback?: number): number;
  string(name: string, fallback?: string): string;
  ints(name: string, fallback?: readonly number[]): number[];
  floats(name: string, fallback?: readonly number[]): number[];
  /** Returns a tensor attribute, or undefined when it is not set. */
  tensor(name: string): TensorData | undefined;
  /**
   * Returns the elements of input `index` as numbers. Throws ShapeError when they are not known
   * when the graph is built, because shape inference needs constant shapes, axes and sizes.
   */
  constantInts(index: number, what: string): number[];
}

/** Creates the context for one node; checks the number of inputs against `[min, max]`. */
export function inferenceContext(
  opType: string,
  nodeName: string,
  inputs: readonly (Value | undefined)[],
  attributes: Attributes,
  outputCount: number,
  [minInputs, maxInputs]: readonly [number, number],
): InferContext {
  if (inputs.length < minInputs || inputs.length > maxInputs) {
    const range = maxInputs === Infinity ? `at least ${minInputs}` : `${minInputs} to ${maxInputs}`;
    throw new ShapeError(`${opType} node '${nodeName}' takes ${range} inputs, got ${inputs.length}`);
  }
  const attribute = <T extends keyof AttributeValues>(
    name: string,
    type: T,
  ): AttributeValues[T] | undefined => {
    const found = attributes[name];
    return found?.type === type ? (found.value as unknown as AttributeValues[T]) : undefined;
  };
  const missing = (name: string): never => {
    throw new ShapeError(`attribute '${name}' is required`);
  };
  return {
    opType,
    nodeName,
    outputCount,
    inputCount: inputs.length,
    input(index) {
      const value = inputs[index];
      if (value === undefined) throw new ShapeError(`input #${index} is required`);
      return value;
    },
    optional: (index) => inputs[index],
    has: (name) => attributes[name] !== undefined,
    int: (name, fallback) => attribute(name, 'int') ?? fallback ?? missing(name),
    float: (name, fallback) => attribute(name, 'float') ?? fallback ?? missing(name),
    string: (name, fallback) => attribute(name, 'string') ?? fallback ?? missing(name),
    ints: (name, fallback) => [...(attribute(name, 'ints') ?? fallback ?? missing(name))],
    floats: (name, fallback) => [...(attribute(name, 'floats') ?? fallback ?? missing(name))],
    tensor: (name) => attribute(name, 'tensor'),
    constantInts(index, what) {
      const value = inputs[index];
      const elements = value?.elements;
      if (value === undefined || elements === undefined) {
        throw new ShapeError(`${what} (input #${index}) must be a constant 1-D int64 tensor`);
      }
      if (!elements.every((e): e is number => typeof e === 'number')) {
        throw new ShapeError(`${what} '${value.name}' has elements known only at run time`);
      }
      return [...elements];
    },
  };
}
