import { dtypeToOnnx, isStaticShape, normalizeAxis, tensor, type Dim, type Shape, type Value } from '@ringtrain/graph';
import type { VjpContext } from './vjp-context.js';
import type { VjpRule } from './vjp-rules.js';

/*
 * Gradient rules for the indexing, normalization and shape ops of transformer models. Like the
 * rules in vjp-rules.ts, they emit standard opset 17 ops only.
 */

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Zeros with the dtype and shape of `like`, symbolic dimensions included. */
function zerosLike(ctx: VjpContext, like: Value): Value {
  return ctx.op('ConstantOfShape', [ctx.shapeOf(like)], { value: tensor(like.dtype, [1], [0]) });
}

/** Returns the elements of constant int64 input `index`, or undefined when it is absent. */
function constantInput(ctx: VjpContext, index: number, role: string): number[] | undefined {
  const value = ctx.node.inputs[index];
  if (value === undefined) return undefined;
  const elements = value.elements;
  if (elements === undefined || !elements.every((e): e is number => typeof e === 'number')) {
    throw ctx.fail(`${role} '${value.name}' must be a constant 1-D int64 tensor`);
  }
  return [...elements];
}

/**
 * Gather along `axis`: the cotangent rows are scatter-added into zeros of the data's shape with
 * ScatterND (reduction 'add'), so repeated indices accumulate. Negative indices count from the
 * end, as in the forward op. For axis > 0, the gathered axis is moved to the front first.
 */
const gather: VjpRule = (ctx) => {
  const [data, indices, dy] = [ctx.input(0), ctx.input(1), ctx.gradOutput()];
  const rank = data.shape.length;
  const axis = normalizeAxis(ctx.int('axis', 0), rank);
  const indexRank = indices.shape.length;

  // Indices as int64 in [0, dim).
  let ids = indices.dtype === 'int64' ? indices : ctx.op('Cast', [indices], { to: dtypeToOnnx('int64') });
  const dim = data.shape[axis]!;
  const size = typeof dim === 'number'
    ? ctx.graph.scalar(dim, 'int64', `grad/${ctx.node.name}/dim`)
    : ctx.op('Squeeze', [ctx.op('Shape', [data], { start: axis, end: axis + 1 }), ctx.int64s([0])]);
  const negative = ctx.op('Less', [ids, ctx.graph.scalar(0, 'int64', `grad/${ctx.node.name}/zero`)]);
  ids = ctx.op('Where', [negative, ctx.add(ids, size), ids]);
  const scatterIndices = ctx.op('Unsqueeze', [ids, ctx.int64s([indexRank])]);

  // dy has shape data[:axis] + indices + data[axis+1:], and ScatterND needs indices + the rest.
  let updates = dy;
  let zeros = zerosLike(ctx, data);
  if (axis > 0) {
    const indexAxes = range(axis, axis + indexRank);
    const dyPerm = [...indexAxes, ...range(0, axis), ...range(axis + indexRank, dy.shape.length)];
    updates = ctx.op('Transpose', [dy], { perm: dyPerm });
    zeros = ctx.op('Transpose', [zeros], { perm: [axis, ...range(0, axis), ...range(axis + 1, rank)] });
  }
  let grad = ctx.op('ScatterND', [zeros, scatterIndices, updates], { reduction: 'add' });
  if (axis > 0) {
    grad = ctx.op('Transpose', [grad], { perm: [...range(1, axis + 1), 0, ...range(axis + 1, rank)] });
  }
  return [grad, undefined];
};

/** Product of the static dimensions of `x` from `axis` on, or the run-time ratio of two sizes. */
function normalizedCount(ctx: VjpContext, x: Value, stats: Value, axis: number): Value {
  const tail: Shape = x.shape.slice(axis);
  if (isStaticShape(tail)) return ctx.scalar(tail.reduce((a, b) => a * b, 1), x);
  return ctx.div(ctx.castLike(ctx.op('Size', [x]), x), ctx.castLike(ctx.op('Size', [stats]), x));
}

/**
 * LayerNormalization over the axes [axis, rank): with x^ = (x - mean) invStd and
 * g = dy scale, dx = invStd (g - mean(g) - x^ mean(g x^)), dScale = sum(dy x^) and
 * dB = sum(dy) over the other axes. Mean and invStd are recomputed from X in X's dtype.
 * Cotangents of the optional Mean and InvStdDev outputs add their own terms.
 */
const layerNormalization: VjpRule = (ctx) => {
  const [x, scale, bias] = [ctx.input(0), ctx.input(1), ctx.node.inputs[2]];
  const rank = x.shape.length;
  const axis = normalizeAxis(ctx.int('axis', -1), rank);
  const axes = range(axis, rank);
  const meanOver = (v: Value) => ctx.op('ReduceMean', [v], { axes, keepdims: 1 });

  const mean = meanOver(x);
  const centered = ctx.sub(x, mean);
  const variance = meanOver(ctx.mul(centered, centered));
  const epsilon = ctx.scalar(ctx.float('epsilon', 1e-5), x);
  const invStd = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.add(variance, epsilon)])]);
  const normalized = ctx.mul(centered, invStd);

  let dx: Value | undefined;
  let dScale: Value | undefined;
  let dBias: Value | undefined;
  const dy = ctx.gradOutputs[0];
  if (dy !== undefined) {
    if (bias !== undefined && ctx.needsGradient(2)) dBias = ctx.unbroadcast(dy, bias);
    if (ctx.needsGradient(1)) dScale = ctx.unbroadcast(ctx.mul(dy, normalized), scale);
    if (ctx.needsGradient(0)) {
      const g = ctx.mul(dy, scale);
      const projected = ctx.mul(normalized, meanOver(ctx.mul(g, normalized)));
      dx = ctx.mul(invStd, ctx.sub(ctx.sub(g, meanOver(g)), projected));
    }
  }
  const addToDx = (term: Value) => {
    dx = dx === undefined ? term : ctx.add(dx, term);
  };
  const [dMean, dInvStd] = [ctx.gradOutputs[1], ctx.gradOutputs[2]];
  if (ctx.needsGradient(0) && (dMean !== undefined || dInvStd !== undefined)) {
    const count = normalizedCount(ctx, x, mean, axis);
    // d mean / dx = 1 / N and d invStd / dx = -invStd^2 x^ / N.
    if (dMean !== undefined) {
      const perElement = ctx.div(ctx.castLike(dMean, x), count);
      addToDx(ctx.op('Expand', [perElement, ctx.shapeOf(x)]));
    }
    if (dInvStd !== undefined) {
      const factor = ctx.div(ctx.neg(ctx.mul(invStd, invStd)), count);
      addToDx(ctx.mul(ctx.mul(ctx.castLike(dInvStd, x), factor), normalized));
    }
  }
  return [dx, dScale, dBias];
};

/** Positions of a slice of `dim` elements along one axis, with ONNX's clamping. */
function slicePositions(dim: number, start: number, end: number, step: number): number[] {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const from = start < 0 ? start + dim : start;
  const to = end < 0 ? end + dim : end;
  const [s, e] = step > 0
    ? [clamp(from, 0, dim), clamp(to, 0, dim)]
    : [clamp(from, 0, dim - 1), clamp(to, -1, dim - 1)];
  const length = Math.max(0, Math.ceil((e - s) / step));
  return Array.from({ length }, (_, i) => s + i * step);
}

/**
 * Places `grad`'s elements along `axis` at `positions` of an axis of `dim` elements, zeros
 * elsewhere: a MatMul with a 0/1 matrix, for strided and reversed slices.
 */
function scatterAlongAxis(ctx: VjpContext, grad: Value, axis: number, positions: number[], dim: number): Value {
  const rank = grad.shape.length;
  const last = axis === rank - 1;
  const toLast = [...range(0, axis), ...range(axis + 1, rank), axis];
  const moved = last ? grad : ctx.op('Transpose', [grad], { perm: toLast });
  const placement = new Array<number>(positions.length * dim).fill(0);
  positions.forEach((p, i) => (placement[i * dim + p] = 1));
  const matrix = ctx.graph.constant(tensor(grad.dtype, [positions.length, dim], placement), `grad/${ctx.node.name}/placement`);
  const placed = ctx.op('MatMul', [moved, matrix]);
  if (last) return placed;
  const back = [...range(0, axis), rank - 1, ...range(axis, rank - 1)];
  return ctx.op('Transpose', [placed], { perm: back });
}

/**
 * Places `grad`, whose `axis` is a prefix of `dim` elements with a length known only at run
 * time, into zeros along that axis: a ScatterND of the leading rows, with the row positions
 * sliced from the constant 0 .. dim-1 to the same length.
 */
function scatterPrefix(ctx: VjpContext, grad: Value, axis: number, dim: number): Value {
  const rank = grad.shape.length;
  const moved = axis === 0
    ? grad
    : ctx.op('Transpose', [grad], { perm: [axis, ...range(0, axis), ...range(axis + 1, rank)] });
  const allRows = ctx.graph.constant(tensor('int64', [dim, 1], range(0, dim)), `grad/${ctx.node.name}/rows`);
  const length = ctx.op('Shape', [moved], { start: 0, end: 1 });
  const rows = ctx.op('Slice', [allRows, ctx.int64s([0]), length, ctx.int64s([0])]);
  const zerosShape = ctx.op('Concat', [ctx.int64s([dim]), ctx.op('Shape', [moved], { start: 1 })], { axis: 0 });
  const zeros = ctx.op('ConstantOfShape', [zerosShape], { value: tensor(grad.dtype, [1], [0]) });
  const placed = ctx.op('ScatterND', [zeros, rows, moved]);
  if (axis === 0) return placed;
  return ctx.op('Transpose', [placed], { perm: [...range(1, axis + 1), 0, ...range(axis + 1, rank)] });
}

/**
 * Slice with constant starts, axes and steps: the cotangent placed back into zeros of the
 * input's shape. Steps of 1 become one Pad, and other steps a MatMul per axis with a 0/1 matrix.
 * Ends may also come from a Shape op, because shape inference allows a prefix of run-time length
 * (start 0, step 1). Such an axis gets a ScatterND.
 */
const slice: VjpRule = (ctx) => {
  const [x, dy] = [ctx.input(0), ctx.gradOutput()];
  const rank = x.shape.length;
  const starts = constantInput(ctx, 1, 'starts')!;
  const endsValue = ctx.input(2);
  const ends: Dim[] = endsValue.elements === undefined ? constantInput(ctx, 2, 'ends')! : [...endsValue.elements];
  const axes = constantInput(ctx, 3, 'axes') ?? range(0, starts.length);
  const steps = constantInput(ctx, 4, 'steps') ?? starts.map(() => 1);
  const none = ctx.node.inputs.slice(1).map(() => undefined);

  const pads = new Array<number>(2 * rank).fill(0);
  let grad = dy;
  for (const [i, raw] of axes.entries()) {
    const axis = normalizeAxis(raw, rank);
    const [dim, end] = [x.shape[axis]!, ends[i]!];
    if (typeof end === 'string') {
      if (end === dim) continue;
      if (typeof dim !== 'number' || starts[i] !== 0 || steps[i] !== 1) {
        throw ctx.fail(`axis ${axis} of size ${dim} is sliced to run-time length '${end}'; only prefixes of a static axis are supported`);
      }
      grad = scatterPrefix(ctx, grad, axis, dim);
      continue;
    }
    // Shape inference lets a symbolic axis through only when the slice keeps all of it.
    if (typeof dim !== 'number') continue;
    const positions = slicePositions(dim, starts[i]!, end, steps[i]!);
    if (positions.length === 0) return [zerosLike(ctx, x), ...none];
    if (steps[i] === 1) {
      pads[axis] = positions[0]!;
      pads[axis + rank] = dim - positions[0]! - positions.length;
    } else {
      grad = scatterAlongAxis(ctx, grad, axis, positions, dim);
    }
  }
  if (pads.some((p) => p !== 0)) grad = ctx.op('Pad', [grad, ctx.int64s(pads)]);
  return [grad, ...none];
};

/** Split: the cotangents concatenated along the split axis, with zeros for outputs that have none. */
const split: VjpRule = (ctx) => {
  const x = ctx.input(0);
  const axis = normalizeAxis(ctx.int('axis', 0), x.shape.length);
  const parts = ctx.node.outputs.map((output, i) => ctx.gradOutputs[i] ?? zerosLike(ctx, output));
  const grad = parts.length === 1 ? parts[0]! : ctx.op('Concat', parts, { axis });
  return [grad, undefined];
};

/** Trilu: the same triangle of the cotangent, with the forward node's `upper` and k. */
const trilu: VjpRule = (ctx) => {
  const k = ctx.node.inputs[1];
  const dy = ctx.gradOutput();
  const upper = ctx.int('upper', 1);
  return [ctx.op('Trilu', k === undefined ? [dy] : [dy, k], { upper }), undefined];
};

/**
 * ReduceMax and ReduceMin: the cotangent goes to the elements equal to the result, split evenly
 * among tied elements, so each reduced group's gradient sums to its cotangent.
 */
const reduceExtremum: VjpRule = (ctx) => {
  const [x, y, dy] = [ctx.input(0), ctx.output(0), ctx.gradOutput()];
  const rank = x.shape.length;
  const listed = ctx.ints('axes') ?? [];
  const axes = listed.length === 0 ? range(0, rank) : listed.map((a) => normalizeAxis(a, rank)).sort((p, q) => p - q);
  const restore = (v: Value) =>
    ctx.int('keepdims', 1) === 1 || axes.length === 0 ? v : ctx.op('Unsqueeze', [v, ctx.int64s(axes)]);
  const mask = ctx.castLike(ctx.op('Equal', [x, restore(y)]), x);
  const count = ctx.op('ReduceSum', [mask, ctx.int64s(axes)], { keepdims: 1 });
  return [ctx.div(ctx.mul(mask, restore(dy)), count)];
};

/** Rules of this file, merged into {@link VJP_RULES}. */
export const TENSOR_VJP_RULES: Readonly<Record<string, VjpRule>> = {
  Gather: gather,
  LayerNormalization: layerNormalization,
  Slice: slice,
  Split: split,
  Expand: (ctx) => [ctx.unbroadcast(ctx.gradOutput(), ctx.input(0)), undefined],
  Trilu: trilu,
  ReduceMax: reduceExtremum,
  ReduceMin: reduceExtremum,
};
