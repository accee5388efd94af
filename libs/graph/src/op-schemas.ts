import type { AttributeType } from './attributes.js';
import { dtypeFromOnnx, isFloatDType, type DType } from './dtype.js';
import type { Value } from './graph.js';
import type { InferContext, OutputType } from './infer-context.js';
import {
  broadcastShapes,
  formatShape,
  normalizeAxis,
  productDim,
  ShapeError,
  staticSize,
  type Dim,
} from './shape.js';
import { tensorToNumbers } from './tensor.js';

/** Inputs, outputs, attributes and shape inference of one op at opset 17. */
export interface OpSchema {
  /** Minimum and maximum number of inputs (Infinity for variadic ops). */
  inputs: readonly [number, number];
  /** Minimum and maximum number of outputs. A node gets the minimum unless the caller requests more. */
  outputs: readonly [number, number];
  /** Attribute types by name; any other attribute is rejected. */
  attributes: Readonly<Record<string, AttributeType>>;
  infer(ctx: InferContext): OutputType[];
}

/** Largest int64, used by Slice's `ends` to mean "to the end"; it rounds to 2^63 as a number. */
const INT64_MAX = 2 ** 63;

function sameAs(value: Value): OutputType {
  return { dtype: value.dtype, shape: value.shape };
}

function requireFloat(value: Value, role: string): void {
  if (!isFloatDType(value.dtype)) {
    throw new ShapeError(`${role} '${value.name}' must be a float tensor, got ${value.dtype}`);
  }
}

function requireDType(value: Value, dtypes: readonly DType[], role: string): void {
  if (!dtypes.includes(value.dtype)) {
    throw new ShapeError(`${role} '${value.name}' must be ${dtypes.join(' or ')}, got ${value.dtype}`);
  }
}

function requireSameDType(values: readonly Value[]): void {
  const first = values[0]!;
  for (const value of values) {
    if (value.dtype !== first.dtype) {
      throw new ShapeError(
        `inputs must share one dtype, got ${first.dtype} ('${first.name}') and ` +
          `${value.dtype} ('${value.name}')`,
      );
    }
  }
}

function allInputs(ctx: InferContext): Value[] {
  return Array.from({ length: ctx.inputCount }, (_, i) => ctx.input(i));
}

function unary(floatOnly: boolean, attributes: Record<string, AttributeType> = {}): OpSchema {
  return {
    inputs: [1, 1],
    outputs: [1, 1],
    attributes,
    infer(ctx) {
      const x = ctx.input(0);
      if (floatOnly) requireFloat(x, 'input');
      return [sameAs(x)];
    },
  };
}

function broadcastOp(output: 'same' | 'bool', minInputs = 2, maxInputs = 2): OpSchema {
  return {
    inputs: [minInputs, maxInputs],
    outputs: [1, 1],
    attributes: {},
    infer(ctx) {
      const inputs = allInputs(ctx);
      requireSameDType(inputs);
      const shape = broadcastShapes(...inputs.map((v) => v.shape));
      return [{ dtype: output === 'bool' ? 'bool' : inputs[0]!.dtype, shape }];
    },
  };
}

function logicalOp(): OpSchema {
  const schema = broadcastOp('bool');
  return {
    ...schema,
    infer(ctx) {
      allInputs(ctx).forEach((v) => requireDType(v, ['bool'], 'input'));
      return schema.infer(ctx);
    },
  };
}

/** Output shape of a reduction over `axes` (all axes when empty). */
function reducedShape(shape: readonly Dim[], axes: readonly number[], keepdims: boolean): Dim[] {
  const rank = shape.length;
  const reduced = new Set(
    axes.length === 0 ? shape.map((_, i) => i) : axes.map((a) => normalizeAxis(a, rank, 'axis')),
  );
  const out: Dim[] = [];
  shape.forEach((dim, i) => {
    if (!reduced.has(i)) out.push(dim);
    else if (keepdims) out.push(1);
  });
  return out;
}

function reduceWithAttribute(floatOnly: boolean): OpSchema {
  return {
    inputs: [1, 1],
    outputs: [1, 1],
    attributes: { axes: 'ints', keepdims: 'int' },
    infer(ctx) {
      const x = ctx.input(0);
      if (floatOnly) requireFloat(x, 'input');
      const axes = ctx.ints('axes', []);
      return [{ dtype: x.dtype, shape: reducedShape(x.shape, axes, ctx.int('keepdims', 1) === 1) }];
    },
  };
}

function argReduce(): OpSchema {
  return {
    inputs: [1, 1],
    outputs: [1, 1],
    attributes: { axis: 'int', keepdims: 'int', select_last_index: 'int' },
    infer(ctx) {
      const x = ctx.input(0);
      const axis = ctx.int('axis', 0);
      const shape = reducedShape(x.shape, [axis], ctx.int('keepdims', 1) === 1);
      return [{ dtype: 'int64', shape }];
    },
  };
}

function softmaxLike(): OpSchema {
  return {
    inputs: [1, 1],
    outputs: [1, 1],
    attributes: { axis: 'int' },
    infer(ctx) {
      const x = ctx.input(0);
      requireFloat(x, 'input');
      normalizeAxis(ctx.int('axis', -1), x.shape.length);
      return [sameAs(x)];
    },
  };
}

/** Numpy matmul shapes: 1-D operands are promoted and the added axis removed afterwards. */
function matmulShape(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  if (a.length === 0 || b.length === 0) throw new ShapeError('MatMul operands must not be scalars');
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = a2[a2.length - 1]!;
  const k2 = b2[b2.length - 2]!;
  if (k1 !== k2) {
    throw new ShapeError(
      `inner dimensions differ: ${formatShape(a)} x ${formatShape(b)} (${k1} against ${k2})`,
    );
  }
  const batch = broadcastShapes(a2.slice(0, -2), b2.slice(0, -2));
  const out: Dim[] = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return out;
}

/** Output shape of Reshape; `0` copies the input dimension and `-1` takes what remains. */
function reshapeShape(input: readonly Dim[], target: readonly Dim[], allowzero: boolean): Dim[] {
  const out: Dim[] = target.map((dim, i) => {
    if (dim === 0 && !allowzero) {
      const copied = input[i];
      if (copied === undefined) throw new ShapeError(`shape has 0 at axis ${i} past the input rank`);
      return copied;
    }
    return dim;
  });
  const inferred = out.indexOf(-1);
  if (out.indexOf(-1, inferred + 1) !== -1) throw new ShapeError('shape has more than one -1');
  if (inferred === -1) {
    checkSameSize(input, out);
    return out;
  }

  // Divide the input's size by the known part of the target: numbers divide, symbols cancel.
  const symbols = input.filter((d): d is string => typeof d === 'string');
  let numerator = 1;
  for (const d of input) if (typeof d === 'number') numerator *= d;
  let denominator = 1;
  for (const [i, d] of out.entries()) {
    if (i === inferred) continue;
    if (typeof d === 'number') denominator *= d;
    else if (symbols.includes(d)) symbols.splice(symbols.indexOf(d), 1);
    else throw new ShapeError(`shape dimension '${d}' does not appear in the input shape`);
  }
  if (numerator % denominator !== 0) {
    throw new ShapeError(`cannot reshape ${formatShape(input)} into ${formatShape(target)}`);
  }
  out[inferred] = productDim([numerator / denominator, ...symbols]);
  return out;
}

function checkSameSize(input: readonly Dim[], out: readonly Dim[]): void {
  const a = staticSize(input);
  const b = staticSize(out);
  const symbolsOf = (s: readonly Dim[]) =>
    s.filter((d) => typeof d === 'string').sort().join(',');
  const numbersOf = (s: readonly Dim[]) =>
    s.reduce<number>((p, d) => (typeof d === 'number' ? p * d : p), 1);
  const same =
    a !== undefined && b !== undefined
      ? a === b
      : symbolsOf(input) === symbolsOf(out) && numbersOf(input) === numbersOf(out);
  if (!same) {
    throw new ShapeError(`cannot reshape ${formatShape(input)} into ${formatShape(out)}`);
  }
}

/** Length of a slice of `dim` elements, with ONNX's clamping of starts and ends. */
/**
 * Shape of a Slice whose ends come from a Shape op (known only as dimensions): only prefixes are
 * inferred, with start 0 and step 1, and the slice is taken to be no longer than the axis.
 */
function prefixSliceShape(
  shape: readonly Dim[],
  starts: readonly number[],
  ends: readonly Dim[],
  axes: readonly number[] | undefined,
  steps: Value | undefined,
): Dim[] {
  if (steps !== undefined) throw new ShapeError('a Slice with run-time ends takes no steps');
  if (starts.some((s) => s !== 0) || ends.length !== starts.length) {
    throw new ShapeError('a Slice with run-time ends must start every axis at 0, one end per start');
  }
  const out = [...shape];
  (axes ?? starts.map((_, i) => i)).forEach((raw, i) => {
    out[normalizeAxis(raw, shape.length, 'axis')] = ends[i]!;
  });
  return out;
}

function sliceLength(dim: number, start: number, end: number, step: number): number {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clamp(s, 0, dim);
    e = clamp(e, 0, dim);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  s = clamp(s, 0, dim - 1);
  e = clamp(e, -1, dim - 1);
  return Math.max(0, Math.ceil((e - s) / step));
}

/**
 * Checks the scale and zero point of QuantizeLinear or DequantizeLinear at opset 17 for the
 * input `x`: a scalar for the whole tensor, or a 1-D tensor of x's size along `axis`, and a zero
 * point of the scale's shape. Returns the zero point's dtype, undefined when it is absent.
 */
function checkQuantParams(ctx: InferContext, x: Value): DType | undefined {
  const [scale, zeroPoint] = [ctx.input(1), ctx.optional(2)];
  requireDType(scale, ['float32'], 'scale');
  if (scale.shape.length === 1) {
    const axis = normalizeAxis(ctx.int('axis', 1), x.shape.length, 'axis');
    if (scale.shape[0] !== x.shape[axis]) {
      throw new ShapeError(
        `per-axis scale '${scale.name}' ${formatShape(scale.shape)} must have the size of axis ${axis} ` +
          `of ${formatShape(x.shape)}`,
      );
    }
  } else if (scale.shape.length !== 0) {
    throw new ShapeError(`scale '${scale.name}' must be a scalar or 1-D, got ${formatShape(scale.shape)}`);
  }
  if (zeroPoint === undefined) return undefined;
  requireDType(zeroPoint, ['int8', 'uint8'], 'zero point');
  if (zeroPoint.shape.length !== scale.shape.length || zeroPoint.shape.some((d, i) => d !== scale.shape[i])) {
    throw new ShapeError(
      `zero point '${zeroPoint.name}' ${formatShape(zeroPoint.shape)} must have the shape of the scale ` +
        `${formatShape(scale.shape)}`,
    );
  }
  return zeroPoint.dtype;
}

const castSchema: OpSchema = {
  inputs: [1, 1],
  outputs: [1, 1],
  attributes: { to: 'int' },
  infer(ctx) {
    const x = ctx.input(0);
    const to = dtypeFromOnnx(ctx.int('to'));
    return [{ dtype: to, shape: x.shape, ...(x.elements && to === 'int64' ? { elements: x.elements } : {}) }];
  },
};

/** Shape inference of every op that ringtrain builds or imports, at opset 17. */
export const OP_SCHEMAS: Readonly<Record<string, OpSchema>> = {
  Identity: {
    inputs: [1, 1],
    outputs: [1, 1],
    attributes: {},
    infer: (ctx) => {
      const x = ctx.input(0);
      return [{ ...sameAs(x), ...(x.elements ? { elements: x.elements } : {}) }];
    },
  },
  Neg: unary(false),
  Abs: unary(false),
  Sign: unary(false),
  Relu: unary(false),
  Sigmoid: unary(true),
  Tanh: unary(true),
  Exp: unary(true),
  Log: unary(true),
  Sqrt: unary(true),
  Reciprocal: unary(true),
  Erf: unary(true),
  Floor: unary(true),
  Round: unary(true),
  Ceil: unary(true),
  Sin: unary(true),
  Cos: unary(true),
  Softplus: unary(true),
  LeakyRelu: unary(true, { alpha: 'float' }),
  Elu: unary(true, { alpha: 'float' }),
  HardSigmoid: unary(true, { alpha: 'float', beta: 'float' }),
  Not: {
    inputs: [1, 1],
    outputs: [1, 1],
    attributes: {},
    infer(ctx) {
      requireDType(ctx.input(0), ['bool'], 'input');
      return [sameAs(ctx.input(0))];
    },
  },

  Add: broadcastOp('same'),
  Sub: broadcastOp('same'),
  Mul: broadcastOp('same'),
  Div: broadcastOp('same'),
  Max: broadcastOp('same', 1, Infinity),
  Min: broadcastOp('same', 1, Infinity),
  Sum: broadcastOp('same', 1, Infinity),
  Mean: broadcastOp('same', 1, Infinity),
  Pow: {
    inputs: [2, 2],
    outputs: [1, 1],
    attributes: {},
    infer(ctx) {
      const [x, y] = [ctx.input(0), ctx.input(1)];
      return [{ dtype: x.dtype, shape: broadcastShapes(x.shape, y.shape) }];
    },
  },
  Equal: broadcastOp('bool'),
  Greater: broadcastOp('bool'),
  GreaterOrEqual: broadcastOp('bool'),
  Less: broadcastOp('bool'),
  LessOrEqual: broadcastOp('bool'),
  And: logicalOp(),
  Or: logicalOp(),
  Xor: logicalOp(),
  Where: {
    inputs: [3, 3],
    outputs: [1, 1],
    attributes: {},
    infer(ctx) {
      const [condition, x, y] = [ctx.input(0), ctx.input(1), ctx.input(2)];
      requireDType(condition, ['bool'], 'condition');
      requireSameDType([x, y]);
      return [{ dtype: x.dtype, shape: broadcastShapes(condition.shape, x.shape, y.shape) }];
    },
  },
  Clip: {
    inputs: [1, 3],
    outputs: [1, 1],
    attributes: {},
    infer(ctx) {
      for (const i of [1, 2]) {
        const bound = ctx.optional(i);
        if (bound !== undefined && bound.shape.length !== 0) {
          throw new ShapeError(`bound '${bound.name}' must be a scalar, got ${formatShape(bound.shape)}`);
        }
      }
      return [sameAs(ctx.input(0))];
    },
  },
  Cast: castSchema,

  MatMul: {
    inputs: [2, 2],
    outputs: [1, 1],
    attributes: {},
    infer(ctx) {
      const [a, b] = [ctx.input(0), ctx.input(1)];
      requireSameDType([a, b]);
      return [{ dtype: a.dtype, shape: matmulShape(a.shape, b.shape) }];
    },
  },
  Gemm: {
    inputs: [2, 3],
    outputs: [1, 1],
    attributes: { alpha: 'float', beta: 'float', transA: 'int', transB: 'int' },
    infer(ctx) {
      const [a, b, c] = [ctx.input(0), ctx.input(1), ctx.optional(2)];
      requireSameDType(c === undefined ? [a, b] : [a, b, c]);
      if (a.shape.length !== 2 || b.shape.length !== 2) {
        throw new ShapeError(`A and B must be 2-D, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
      }
      const [m, k1] = ctx.int('transA', 0) ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
      const [k2, n] = ctx.int('transB', 0) ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
      if (k1 !== k2) {
        throw new ShapeError(`inner dimensions differ: ${k1} against ${k2}`);
      }
      if (c !== undefined) {
        const stretched = broadcastShapes([m, n], c.shape);
        if (stretched.length !== 2 || stretched[0] !== m || stretched[1] !== n) {
          throw new ShapeError(`C ${formatShape(c.shape)} does not broadcast to [${m}, ${n}]`);
        }
      }
      return [{ dtype: a.dtype, shape: [m, n] }];
    },
  },

  Softmax: softmaxLike(),
  LogSoftmax: softmaxLike(),
  Hardmax: softmaxLike(),
  SoftmaxCrossEntropyLoss: {
    inputs: [2, 3],
    outputs: [1, 2],
    attributes: { reduction: 'string', ignore_index: 'int' },
    infer(ctx) {
      const [scores, labels, weights] = [ctx.input(0), ctx.input(1), ctx.optional(2)];
      requireFloat(scores, 'scores');
      requireDType(labels, ['int32', 'int64'], 'labels');
      const expected = [scores.shape[0], ...scores.shape.slice(2)];
      if (scores.shape.length < 2 || expected.some((d, i) => d !== labels.shape[i]) ||
          labels.shape.length !== expected.length) {
        throw new ShapeError(
          `scores ${formatShape(scores.shape)} need labels of shape ` +
            `[N, d1, ...] = ${formatShape(expected)}, got ${formatShape(labels.shape)}`,
        );
      }
      if (weights !== undefined && (weights.shape.length !== 1 || weights.shape[0] !== scores.shape[1])) {
        throw new ShapeError(`weights must have shape [${scores.shape[1]}], got ${formatShape(weights.shape)}`);
      }
      const reduction = ctx.string('reduction', 'mean');
      if (!['none', 'sum', 'mean'].includes(reduction)) {
        throw new ShapeError(`reduction must be 'none', 'sum' or 'mean', got '${reduction}'`);
      }
      const loss: OutputType = { dtype: scores.dtype, shape: reduction === 'none' ? labels.shape : [] };
      return [loss, sameAs(scores)];
    },
  },

  ReduceSum: {
    inputs: [1, 2],
    outputs: [1, 1],
    attributes: { keepdims: 'int', noop_with_empty_axes: 'int' },
    infer(ctx) {
      const x = ctx.input(0);
      const axes = ctx.optional(1) === undefined ? [] : ctx.constantInts(1, 'axes');
      if (axes.length === 0 && ctx.int('noop_with_empty_axes', 0) === 1) return [sameAs(x)];
      return [{ dtype: x.dtype, shape: reducedShape(x.shape, axes, ctx.int('keepdims', 1) === 1) }];
    },
  },
  ReduceMean: reduceWithAttribute(true),
  ReduceMax: reduceWithAttribute(false),
  ReduceMin: reduceWithAttribute(false),
  ReduceProd: reduceWithAttribute(false),
  ReduceSumSquare: reduceWithAttribute(false),
  ReduceL2: reduceWithAttribute(true),
  ReduceLogSumExp: reduceWithAttribute(true),
  ArgMax: argReduce(),
  ArgMin: argReduce(),

  Reshape: {
    inputs: [2, 2],
    outputs: [1, 1],
    attributes: { allowzero: 'int' },
    infer(ctx) {
      const [x, shape] = [ctx.input(0), ctx.input(1)];
      if (shape.elements === undefined) {
        throw new ShapeError(`shape '${shape.name}' must be a constant or come from Shape`);
      }
      return [{ dtype: x.dtype, shape: reshapeShape(x.shape, shape.elements, ctx.int('allowzero', 0) === 1) }];
    },
  },
  Flatten: {
    inputs: [1, 1],
    outputs: [1, 1],
    attributes: { axis: 'int' },
    infer(ctx) {
      const x = ctx.input(0);
      const rank = x.shape.length;
      const raw = ctx.int('axis', 1);
      const axis = raw === rank ? rank : normalizeAxis(raw, rank);
      return [{ dtype: x.dtype, shape: [productDim(x.shape.slice(0, axis)), productDim(x.shape.slice(axis))] }];
    },
  },
  Transpose: {
    inputs: [1, 1],
    outputs: [1, 1],
    attributes: { perm: 'ints' },
    infer(ctx) {
      const x = ctx.input(0);
      const rank = x.shape.length;
      const perm = ctx.ints('perm', x.shape.map((_, i) => rank - 1 - i));
      const sorted = [...perm].sort((a, b) => a - b);
      if (perm.length !== rank || sorted.some((p, i) => p !== i)) {
        throw new ShapeError(`perm [${perm.join(', ')}] is not a permutation of ${rank} axes`);
      }
      return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]!) }];
    },
  },
  Concat: {
    inputs: [1, Infinity],
    outputs: [1, 1],
    attributes: { axis: 'int' },
    infer(ctx) {
      const inputs = allInputs(ctx);
      requireSameDType(inputs);
      const first = inputs[0]!;
      const axis = normalizeAxis(ctx.int('axis'), first.shape.length);
      const shape = [...first.shape];
      const along: Dim[] = [];
      for (const value of inputs) {
        const same = value.shape.length === shape.length &&
          value.shape.every((d, i) => i === axis || d === shape[i]);
        if (!same) {
          throw new ShapeError(
            `'${value.name}' ${formatShape(value.shape)} does not match ${formatShape(first.shape)} ` +
              `outside axis ${axis}`,
          );
        }
        along.push(value.shape[axis]!);
      }
      if (!along.every((d) => typeof d === 'number')) {
        throw new ShapeError(`concatenated axis ${axis} must have static sizes, got ${formatShape(along)}`);
      }
      shape[axis] = along.reduce<number>((a, d) => a + (d as number), 0);
      const joined = inputs.every((v) => v.elements !== undefined) && first.shape.length === 1
        ? { elements: inputs.flatMap((v) => [...v.elements!]) }
        : {};
      return [{ dtype: first.dtype, shape, ...joined }];
    },
  },
  Unsqueeze: {
    inputs: [2, 2],
    outputs: [1, 1],
    attributes: {},
    infer(ctx) {
      const x = ctx.input(0);
      const rank = x.shape.length + ctx.constantInts(1, 'axes').length;
      const axes = new Set(ctx.constantInts(1, 'axes').map((a) => normalizeAxis(a, rank, 'axis')));
      const rest = [...x.shape];
      const shape = Array.from({ length: rank }, (_, i) => (axes.has(i) ? 1 : rest.shift()!));
      return [{ dtype: x.dtype, shape }];
    },
  },
  Squeeze: {
    inputs: [1, 2],
    outputs: [1, 1],
    attributes: {},
    infer(ctx) {
      const x = ctx.input(0);
      const given = ctx.optional(1) === undefined ? undefined : ctx.constantInts(1, 'axes');
      const axes = new Set(
        given === undefined
          ? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))
          : given.map((a) => normalizeAxis(a, x.shape.length, 'axis')),
      );
      for (const axis of axes) {
        if (x.shape[axis] !== 1) throw new ShapeError(`axis ${axis} has size ${x.shape[axis]}, not 1`);
      }
      return [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !axes.has(i)) }];
    },
  },
  Expand: {
    inputs: [2, 2],
    outputs: [1, 1],
    attributes: {},
    infer(ctx) {
      const [x, shape] = [ctx.input(0), ctx.input(1)];
      if (shape.elements === undefined) {
        throw new ShapeError(`shape '${shape.name}' must be a constant or come from Shape`);
      }
      return [{ dtype: x.dtype, shape: broadcastShapes(x.shape, shape.elements) }];
    },
  },
  Shape: {
    inputs: [1, 1],
    outputs: [1, 1],
    attributes: { start: 'int', end: 'int' },
    infer(ctx) {
      const x = ctx.input(0);
      const rank = x.shape.length;
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
      const elements = x.shape.slice(clamp(ctx.int('start', 0)), clamp(ctx.int('end', rank)));
      return [{ dtype: 'int64', shape: [elements.length], elements }];
    },
  },
  Size: {
    inputs: [1, 1],
    outputs: [1, 1],
    attributes: {},
    infer: () => [{ dtype: 'int64', shape: [] }],
  },
  Gather: {
    inputs: [2, 2],
    outputs: [1, 1],
    attributes: { axis: 'int' },
    infer(ctx) {
      const [data, indices] = [ctx.input(0), ctx.input(1)];
      requireDType(indices, ['int32', 'int64'], 'indices');
      const axis = normalizeAxis(ctx.int('axis', 0), data.shape.length);
      const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
      return [{ dtype: data.dtype, shape }];
    },
  },
  Slice: {
    inputs: [3, 5],
    outputs: [1, 1],
    attributes: {},
    infer(ctx) {
      const x = ctx.input(0);
      const starts = ctx.constantInts(1, 'starts');
      const rank = x.shape.length;
      const endsValue = ctx.input(2);
      if (endsValue.data === undefined && endsValue.elements !== undefined) {
        return [{ dtype: x.dtype, shape: prefixSliceShape(x.shape, starts, endsValue.elements, ctx.optional(3) === undefined ? undefined : ctx.constantInts(3, 'axes'), ctx.optional(4)) }];
      }
      const ends = ctx.constantInts(2, 'ends');
      const axes = ctx.optional(3) === undefined ? starts.map((_, i) => i) : ctx.constantInts(3, 'axes');
      const steps = ctx.optional(4) === undefined ? starts.map(() => 1) : ctx.constantInts(4, 'steps');
      if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
        throw new ShapeError('starts, ends, axes and steps must have the same length');
      }
      const shape = [...x.shape];
      axes.forEach((raw, i) => {
        const axis = normalizeAxis(raw, rank, 'axis');
        const [start, end, step] = [starts[i]!, ends[i]!, steps[i]!];
        if (step === 0) throw new ShapeError('steps must not be 0');
        const dim = shape[axis]!;
        if (typeof dim === 'number') shape[axis] = sliceLength(dim, start, end, step);
        else if (!(start === 0 && end >= INT64_MAX / 2 && step === 1)) {
          throw new ShapeError(`cannot slice symbolic axis ${axis} ('${dim}') with static bounds`);
        }
      });
      return [{ dtype: x.dtype, shape }];
    },
  },
  Split: {
    inputs: [1, 2],
    outputs: [1, Infinity],
    attributes: { axis: 'int' },
    infer(ctx) {
      const x = ctx.input(0);
      const axis = normalizeAxis(ctx.int('axis', 0), x.shape.length);
      const dim = x.shape[axis]!;
      let sizes: number[];
      if (ctx.optional(1) !== undefined) {
        sizes = ctx.constantInts(1, 'split');
      } else {
        if (typeof dim !== 'number' || dim % ctx.outputCount !== 0) {
          throw new ShapeError(`axis ${axis} of size ${dim} does not split into ${ctx.outputCount} equal parts`);
        }
        sizes = Array.from({ length: ctx.outputCount }, () => dim / ctx.outputCount);
      }
      if (sizes.length !== ctx.outputCount) {
        throw new ShapeError(`split has ${sizes.length} sizes for ${ctx.outputCount} outputs`);
      }
      if (typeof dim === 'number' && sizes.reduce((a, b) => a + b, 0) !== dim) {
        throw new ShapeError(`split sizes [${sizes.join(', ')}] do not add up to ${dim}`);
      }
      return sizes.map((size) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === axis ? size : d)) }));
    },
  },
  ScatterND: {
    inputs: [3, 3],
    outputs: [1, 1],
    attributes: { reduction: 'string' },
    infer(ctx) {
      const [data, indices, updates] = [ctx.input(0), ctx.input(1), ctx.input(2)];
      requireDType(indices, ['int64'], 'indices');
      requireSameDType([data, updates]);
      const reduction = ctx.string('reduction', 'none');
      if (!['none', 'add', 'mul'].includes(reduction)) {
        throw new ShapeError(`reduction must be 'none', 'add' or 'mul' at opset 17, got '${reduction}'`);
      }
      const depth = indices.shape[indices.shape.length - 1];
      if (indices.shape.length === 0 || typeof depth !== 'number' || depth > data.shape.length) {
        throw new ShapeError(
          `indices ${formatShape(indices.shape)} need a static last axis of at most the data rank ` +
            `${data.shape.length}`,
        );
      }
      const expected = [...indices.shape.slice(0, -1), ...data.shape.slice(depth)];
      const matches = updates.shape.length === expected.length &&
        updates.shape.every((d, i) => d === expected[i]);
      if (!matches) {
        throw new ShapeError(`updates must have shape ${formatShape(expected)}, got ${formatShape(updates.shape)}`);
      }
      return [sameAs(data)];
    },
  },
  Pad: {
    inputs: [2, 3],
    outputs: [1, 1],
    attributes: { mode: 'string' },
    infer(ctx) {
      const x = ctx.input(0);
      const pads = ctx.constantInts(1, 'pads');
      const rank = x.shape.length;
      if (pads.length !== 2 * rank) {
        throw new ShapeError(`pads must have ${2 * rank} elements (begins, then ends), got ${pads.length}`);
      }
      const shape = x.shape.map((dim, axis) => {
        const added = pads[axis]! + pads[axis + rank]!;
        if (typeof dim === 'number') {
          if (dim + added < 0) throw new ShapeError(`pads remove more than the ${dim} elements of axis ${axis}`);
          return dim + added;
        }
        if (added !== 0 || pads[axis] !== 0) {
          throw new ShapeError(`cannot pad symbolic axis ${axis} ('${dim}') by static amounts`);
        }
        return dim;
      });
      return [{ dtype: x.dtype, shape }];
    },
  },
  Dropout: {
    inputs: [1, 3],
    outputs: [1, 2],
    attributes: { seed: 'int' },
    infer(ctx) {
      const x = ctx.input(0);
      requireFloat(x, 'data');
      const mode = ctx.optional(2);
      if (mode !== undefined) requireDType(mode, ['bool'], 'training_mode');
      return [sameAs(x), { dtype: 'bool', shape: x.shape }];
    },
  },
  LayerNormalization: {
    inputs: [2, 3],
    outputs: [1, 3],
    attributes: { axis: 'int', epsilon: 'float', stash_type: 'int' },
    infer(ctx) {
      const x = ctx.input(0);
      requireFloat(x, 'X');
      const axis = normalizeAxis(ctx.int('axis', -1), x.shape.length);
      const stats = x.shape.map((d, i) => (i < axis ? d : 1));
      const statsDType: DType = ctx.int('stash_type', 1) === 1 ? 'float32' : x.dtype;
      return [sameAs(x), { dtype: statsDType, shape: stats }, { dtype: statsDType, shape: stats }];
    },
  },
  Trilu: {
    inputs: [1, 2],
    outputs: [1, 1],
    attributes: { upper: 'int' },
    infer: (ctx) => [sameAs(ctx.input(0))],
  },
  QuantizeLinear: {
    inputs: [2, 3],
    outputs: [1, 1],
    attributes: { axis: 'int' },
    infer(ctx) {
      const x = ctx.input(0);
      requireDType(x, ['float32'], 'input');
      // The output takes the zero point's type, uint8 when there is none.
      return [{ dtype: checkQuantParams(ctx, x) ?? 'uint8', shape: x.shape }];
    },
  },
  DequantizeLinear: {
    inputs: [2, 3],
    outputs: [1, 1],
    attributes: { axis: 'int' },
    infer(ctx) {
      const x = ctx.input(0);
      requireDType(x, ['int8', 'uint8'], 'input');
      const zeroPoint = checkQuantParams(ctx, x);
      if (zeroPoint !== undefined && zeroPoint !== x.dtype) {
        throw new ShapeError(`zero point is ${zeroPoint} but input '${x.name}' is ${x.dtype}; they must match`);
      }
      return [{ dtype: 'float32', shape: x.shape }];
    },
  },
  DynamicQuantizeLinear: {
    inputs: [1, 1],
    outputs: [3, 3],
    attributes: {},
    infer(ctx) {
      const x = ctx.input(0);
      requireDType(x, ['float32'], 'input');
      return [{ dtype: 'uint8', shape: x.shape }, { dtype: 'float32', shape: [] }, { dtype: 'uint8', shape: [] }];
    },
  },
  Constant: {
    inputs: [0, 0],
    outputs: [1, 1],
    attributes: { value: 'tensor', value_float: 'float', value_floats: 'floats', value_int: 'int', value_ints: 'ints' },
    infer(ctx) {
      const data = ctx.tensor('value');
      if (data !== undefined) {
        const elements = data.dtype === 'int64' && data.shape.length === 1 ? { elements: tensorToNumbers(data) } : {};
        return [{ dtype: data.dtype, shape: data.shape, data, ...elements }];
      }
      if (ctx.has('value_float')) return [{ dtype: 'float32', shape: [] }];
      if (ctx.has('value_int')) return [{ dtype: 'int64', shape: [] }];
      if (ctx.has('value_floats')) return [{ dtype: 'float32', shape: [ctx.floats('value_floats').length] }];
      if (ctx.has('value_ints')) {
        const elements = ctx.ints('value_ints');
        return [{ dtype: 'int64', shape: [elements.length], elements }];
      }
      throw new ShapeError('a Constant needs one of value, value_float(s), value_int(s)');
    },
  },
  ConstantOfShape: {
    inputs: [1, 1],
    outputs: [1, 1],
    attributes: { value: 'tensor' },
    infer(ctx) {
      const shape = ctx.input(0);
      if (shape.elements === undefined) {
        throw new ShapeError(`shape '${shape.name}' must be a constant or come from Shape`);
      }
      return [{ dtype: ctx.tensor('value')?.dtype ?? 'float32', shape: shape.elements }];
    },
  },
};
