import { normalizeAxis, tensor, tensorToNumbers, type Value } from '@ringtrain/graph';
import type { VjpContext } from './vjp-context.js';
import { TENSOR_VJP_RULES } from './vjp-rules-tensor.js';

/**
 * A vector-Jacobian rule: given the cotangents of a node's outputs, returns the cotangent of
 * each input, or undefined for inputs that need none (see {@link VjpContext.needsGradient}).
 * Rules emit standard ONNX ops only.
 */
export type VjpRule = (ctx: VjpContext) => (Value | undefined)[];

/** Rule for an elementwise op whose input gradient is `dy * f(x, y)`. */
function elementwise(factor: (ctx: VjpContext, x: Value, y: Value) => Value): VjpRule {
  return (ctx) => [ctx.mul(ctx.gradOutput(), factor(ctx, ctx.input(0), ctx.output(0)))];
}

const identity: VjpRule = (ctx) => [ctx.gradOutput()];

/** Gradient of Reshape, Flatten, Squeeze and Unsqueeze: reshape back to the input shape. */
const reshapeBack: VjpRule = (ctx) => [ctx.reshapeLike(ctx.gradOutput(), ctx.input(0))];

/** Swaps the last two axes, for matrix products. */
function transposeLast(ctx: VjpContext, x: Value): Value {
  const perm = x.shape.map((_, i) => i);
  perm.push(...perm.splice(-2).reverse());
  return ctx.op('Transpose', [x], { perm });
}

/**
 * MatMul with numpy batching: dA = dY B^T and dB = A^T dY, summed over broadcast batch axes.
 * 1-D operands are promoted to matrices first and their added axis removed afterwards.
 */
const matMul: VjpRule = (ctx) => {
  const [a, b] = [ctx.input(0), ctx.input(1)];
  let dy = ctx.gradOutput();
  const a2 = a.shape.length === 1 ? ctx.op('Unsqueeze', [a, ctx.int64s([0])]) : a;
  const b2 = b.shape.length === 1 ? ctx.op('Unsqueeze', [b, ctx.int64s([1])]) : b;
  if (a.shape.length === 1) dy = ctx.op('Unsqueeze', [dy, ctx.int64s([dy.shape.length - 1])]);
  if (b.shape.length === 1) dy = ctx.op('Unsqueeze', [dy, ctx.int64s([dy.shape.length])]);
  const da = ctx.needsGradient(0)
    ? ctx.reshapeLike(ctx.unbroadcast(ctx.op('MatMul', [dy, transposeLast(ctx, b2)]), a2), a)
    : undefined;
  const db = ctx.needsGradient(1)
    ? ctx.reshapeLike(ctx.unbroadcast(ctx.op('MatMul', [transposeLast(ctx, a2), dy]), b2), b)
    : undefined;
  return [da, db];
};

/**
 * Gemm, Y = alpha A' B' + beta C with A' = transA ? A^T : A (likewise B'). dA' = alpha dY B'^T
 * and dB' = alpha A'^T dY, each written as one Gemm that also undoes the transposition.
 */
const gemm: VjpRule = (ctx) => {
  const [a, b, c] = [ctx.input(0), ctx.input(1), ctx.node.inputs[2]];
  const dy = ctx.gradOutput();
  const alpha = ctx.float('alpha', 1);
  const beta = ctx.float('beta', 1);
  const transA = ctx.int('transA', 0);
  const transB = ctx.int('transB', 0);
  const da = !ctx.needsGradient(0)
    ? undefined
    : transA
      ? ctx.op('Gemm', [b, dy], { alpha, transA: transB, transB: 1 })
      : ctx.op('Gemm', [dy, b], { alpha, transA: 0, transB: 1 - transB });
  const db = !ctx.needsGradient(1)
    ? undefined
    : transB
      ? ctx.op('Gemm', [dy, a], { alpha, transA: 1, transB: transA })
      : ctx.op('Gemm', [a, dy], { alpha, transA: 1 - transA, transB: 0 });
  let dc: Value | undefined;
  if (c !== undefined && ctx.needsGradient(2)) {
    const scaled = beta === 1 ? dy : ctx.mul(dy, ctx.scalar(beta, dy));
    dc = ctx.unbroadcast(scaled, c);
  }
  return [da, db, dc];
};

const add: VjpRule = (ctx) => [
  ctx.needsGradient(0) ? ctx.unbroadcast(ctx.gradOutput(), ctx.input(0)) : undefined,
  ctx.needsGradient(1) ? ctx.unbroadcast(ctx.gradOutput(), ctx.input(1)) : undefined,
];

const sub: VjpRule = (ctx) => [
  ctx.needsGradient(0) ? ctx.unbroadcast(ctx.gradOutput(), ctx.input(0)) : undefined,
  ctx.needsGradient(1) ? ctx.unbroadcast(ctx.neg(ctx.gradOutput()), ctx.input(1)) : undefined,
];

const mul: VjpRule = (ctx) => {
  const [a, b, dy] = [ctx.input(0), ctx.input(1), ctx.gradOutput()];
  return [
    ctx.needsGradient(0) ? ctx.unbroadcast(ctx.mul(dy, b), a) : undefined,
    ctx.needsGradient(1) ? ctx.unbroadcast(ctx.mul(dy, a), b) : undefined,
  ];
};

/** Div: da = dy / b and db = -dy a / b^2 = -(dy / b) y. */
const div: VjpRule = (ctx) => {
  const [a, b, y, dy] = [ctx.input(0), ctx.input(1), ctx.output(0), ctx.gradOutput()];
  const dyOverB = ctx.div(dy, b);
  return [
    ctx.needsGradient(0) ? ctx.unbroadcast(dyOverB, a) : undefined,
    ctx.needsGradient(1) ? ctx.unbroadcast(ctx.neg(ctx.mul(dyOverB, y)), b) : undefined,
  ];
};

/** Pow: dx = dy p x^(p - 1); dp = dy y ln(x), which needs x > 0. */
const pow: VjpRule = (ctx) => {
  const [x, p, y, dy] = [ctx.input(0), ctx.input(1), ctx.output(0), ctx.gradOutput()];
  if (p.dtype !== x.dtype && ctx.needsGradient(0)) {
    throw ctx.fail(`the exponent must have the base's dtype ${x.dtype}, got ${p.dtype}; cast it`);
  }
  const dx = ctx.needsGradient(0)
    ? ctx.unbroadcast(ctx.mul(dy, ctx.mul(p, ctx.op('Pow', [x, ctx.sub(p, ctx.scalar(1, p))]))), x)
    : undefined;
  const dp = ctx.needsGradient(1)
    ? ctx.unbroadcast(ctx.mul(dy, ctx.mul(y, ctx.op('Log', [x]))), p)
    : undefined;
  return [dx, dp];
};

const where: VjpRule = (ctx) => {
  const [condition, x, y, dy] = [ctx.input(0), ctx.input(1), ctx.input(2), ctx.gradOutput()];
  const zero = ctx.scalar(0, dy);
  return [
    undefined,
    ctx.needsGradient(1) ? ctx.unbroadcast(ctx.op('Where', [condition, dy, zero]), x) : undefined,
    ctx.needsGradient(2) ? ctx.unbroadcast(ctx.op('Where', [condition, zero, dy]), y) : undefined,
  ];
};

const sum: VjpRule = (ctx) =>
  ctx.node.inputs.map((input, i) =>
    input !== undefined && ctx.needsGradient(i) ? ctx.unbroadcast(ctx.gradOutput(), input) : undefined,
  );

/** Softmax along `axis`: dx = y (dy - sum(dy y, axis)). */
const softmax: VjpRule = (ctx) => {
  const [y, dy] = [ctx.output(0), ctx.gradOutput()];
  const axes = ctx.int64s([normalizeAxis(ctx.int('axis', -1), y.shape.length)]);
  const dot = ctx.op('ReduceSum', [ctx.mul(dy, y), axes], { keepdims: 1 });
  return [ctx.mul(y, ctx.sub(dy, dot))];
};

/** LogSoftmax along `axis`: dx = dy - exp(y) sum(dy, axis). */
const logSoftmax: VjpRule = (ctx) => {
  const [y, dy] = [ctx.output(0), ctx.gradOutput()];
  const axes = ctx.int64s([normalizeAxis(ctx.int('axis', -1), y.shape.length)]);
  const total = ctx.op('ReduceSum', [dy, axes], { keepdims: 1 });
  return [ctx.sub(dy, ctx.mul(ctx.op('Exp', [y]), total))];
};

/**
 * SoftmaxCrossEntropyLoss over scores [N, C, d1, ...]: d scores = (softmax(scores) - onehot) c,
 * where c is the loss cotangent per element, zero for ignored labels, and divided by the
 * number of counted labels for reduction 'mean'. A cotangent of the log_prob output adds the
 * LogSoftmax gradient along axis 1.
 */
const softmaxCrossEntropyLoss: VjpRule = (ctx) => {
  const [scores, labels] = [ctx.input(0), ctx.input(1)];
  if (ctx.node.inputs[2] !== undefined) {
    throw ctx.fail('class weights are not supported yet; drop the weights input or add them to the rule');
  }
  const classes = scores.shape[1];
  if (typeof classes !== 'number') throw ctx.fail(`the class axis must be static, got '${classes}'`);
  const probs = ctx.op('Softmax', [scores], { axis: 1 });
  let dScores: Value | undefined;

  const dLoss = ctx.gradOutputs[0];
  if (dLoss !== undefined) {
    // One-hot labels: compare the labels, unsqueezed at the class axis, with 0 .. C-1.
    const range = Array.from({ length: classes }, (_, i) => i);
    const shape = scores.shape.map((_, axis) => (axis === 1 ? classes : 1));
    const classIds = ctx.graph.constant(tensor(labels.dtype, shape, range), `grad/${ctx.node.name}/classes`);
    const labels1 = ctx.op('Unsqueeze', [labels, ctx.int64s([1])]);
    const onehot = ctx.castLike(ctx.op('Equal', [labels1, classIds]), scores);

    // Cotangent per label: zero where the label is ignored, divided by the count for 'mean'.
    const ignoreIndex = ctx.node.attributes['ignore_index'];
    let counted: Value | undefined;
    if (ignoreIndex?.type === 'int') {
      const ignored = ctx.graph.constant(tensor(labels.dtype, [], [ignoreIndex.value]), `grad/${ctx.node.name}/ignore`);
      counted = ctx.castLike(ctx.op('Not', [ctx.op('Equal', [labels, ignored])]), scores);
    }
    let perLabel = counted === undefined ? dLoss : ctx.mul(dLoss, counted);
    if (ctx.string('reduction', 'mean') === 'mean') {
      const count = counted === undefined
        ? ctx.castLike(ctx.op('Size', [labels]), scores)
        : ctx.op('ReduceSum', [counted], { keepdims: 0 });
      perLabel = ctx.div(perLabel, count);
    }
    const perLabel1 = perLabel.shape.length === 0 ? perLabel : ctx.op('Unsqueeze', [perLabel, ctx.int64s([1])]);
    dScores = ctx.mul(ctx.sub(probs, onehot), perLabel1);
  }

  const dLogProb = ctx.gradOutputs[1];
  if (dLogProb !== undefined) {
    const total = ctx.op('ReduceSum', [dLogProb, ctx.int64s([1])], { keepdims: 1 });
    const fromLogProb = ctx.sub(dLogProb, ctx.mul(probs, total));
    dScores = dScores === undefined ? fromLogProb : ctx.add(dScores, fromLogProb);
  }
  return [dScores, undefined, undefined];
};

/** Restores the reduced axes of `dy` (kept as size 1) and stretches it to the input shape. */
function expandReduced(ctx: VjpContext, dy: Value, x: Value, axes: readonly number[]): Value {
  const rank = x.shape.length;
  const all = axes.length === 0 ? x.shape.map((_, i) => i) : axes.map((a) => normalizeAxis(a, rank));
  const kept = ctx.int('keepdims', 1) === 1 || all.length === 0
    ? dy
    : ctx.op('Unsqueeze', [dy, ctx.int64s([...all].sort((p, q) => p - q))]);
  return ctx.op('Expand', [kept, ctx.shapeOf(x)]);
}

const reduceSum: VjpRule = (ctx) => {
  const x = ctx.input(0);
  const axesInput = ctx.node.inputs[1];
  // Shape inference has already checked that the axes are constant numbers.
  const axes = (axesInput?.elements ?? []) as number[];
  if (axes.length === 0 && ctx.int('noop_with_empty_axes', 0) === 1) return [ctx.gradOutput()];
  return [expandReduced(ctx, ctx.gradOutput(), x, axes), undefined];
};

/** ReduceMean: the ReduceSum gradient times size(y) / size(x), static where the shapes are. */
const reduceMean: VjpRule = (ctx) => {
  const [x, y, dy] = [ctx.input(0), ctx.output(0), ctx.gradOutput()];
  const sizeOf = (v: Value) => v.shape.reduce<number | undefined>((p, d) => (typeof d === 'number' && p !== undefined ? p * d : undefined), 1);
  const [sizeX, sizeY] = [sizeOf(x), sizeOf(y)];
  const scale = sizeX !== undefined && sizeY !== undefined
    ? ctx.scalar(sizeY / sizeX, dy)
    : ctx.div(ctx.castLike(ctx.op('Size', [y]), dy), ctx.castLike(ctx.op('Size', [x]), dy));
  return [ctx.mul(expandReduced(ctx, dy, x, ctx.ints('axes') ?? []), scale)];
};

const transpose: VjpRule = (ctx) => {
  const x = ctx.input(0);
  const rank = x.shape.length;
  const perm = ctx.ints('perm') ?? x.shape.map((_, i) => rank - 1 - i);
  const inverse = new Array<number>(rank);
  perm.forEach((p, i) => (inverse[p] = i));
  return [ctx.op('Transpose', [ctx.gradOutput()], { perm: inverse })];
};

/** Concat: split the cotangent along the concatenation axis into the inputs' sizes. */
const concat: VjpRule = (ctx) => {
  const inputs = ctx.node.inputs.map((_, i) => ctx.input(i));
  const axis = normalizeAxis(ctx.int('axis', 0), inputs[0]!.shape.length);
  const sizes = inputs.map((v) => v.shape[axis] as number);
  if (inputs.length === 1) return [ctx.gradOutput()];
  return ctx.ops('Split', [ctx.gradOutput(), ctx.int64s(sizes)], { axis }, inputs.length);
};

/**
 * Dropout: dx = dy mask / (1 - ratio) in training mode and dy otherwise. The mode and the ratio
 * must be constants, and a training-mode node must output its mask.
 */
const dropout: VjpRule = (ctx) => {
  const dy = ctx.gradOutput();
  const mode = ctx.node.inputs[2];
  if (mode === undefined) return [dy, undefined, undefined];
  if (mode.data === undefined) throw ctx.fail(`training_mode '${mode.name}' must be a constant`);
  if (tensorToNumbers(mode.data)[0] === 0) return [dy, undefined, undefined];
  const ratioInput = ctx.node.inputs[1];
  if (ratioInput !== undefined && ratioInput.data === undefined) {
    throw ctx.fail(`ratio '${ratioInput.name}' must be a constant`);
  }
  const ratio = ratioInput?.data === undefined ? 0.5 : tensorToNumbers(ratioInput.data)[0]!;
  const mask = ctx.node.outputs[1];
  if (mask === undefined) throw ctx.fail('the node must output its mask; create it with { outputs: 2 }');
  const kept = ctx.mul(dy, ctx.castLike(mask, dy));
  return [ratio === 0 ? kept : ctx.mul(kept, ctx.scalar(1 / (1 - ratio), dy)), undefined, undefined];
};

/** Gradient rules by op type. Add a row here to make another op differentiable. */
export const VJP_RULES: Readonly<Record<string, VjpRule>> = {
  MatMul: matMul,
  Gemm: gemm,
  Add: add,
  Sub: sub,
  Mul: mul,
  Div: div,
  Pow: pow,
  Where: where,
  Sum: sum,
  Neg: (ctx) => [ctx.neg(ctx.gradOutput())],
  Identity: identity,
  Relu: (ctx) => {
    const x = ctx.input(0);
    const positive = ctx.op('Greater', [x, ctx.scalar(0, x)]);
    return [ctx.op('Where', [positive, ctx.gradOutput(), ctx.scalar(0, x)])];
  },
  Sigmoid: elementwise((ctx, _x, y) => ctx.mul(y, ctx.sub(ctx.scalar(1, y), y))),
  Tanh: elementwise((ctx, _x, y) => ctx.sub(ctx.scalar(1, y), ctx.mul(y, y))),
  Exp: elementwise((_ctx, _x, y) => y),
  Log: (ctx) => [ctx.div(ctx.gradOutput(), ctx.input(0))],
  Sqrt: (ctx) => [ctx.div(ctx.mul(ctx.gradOutput(), ctx.scalar(0.5, ctx.output(0))), ctx.output(0))],
  Erf: elementwise((ctx, x) =>
    ctx.mul(ctx.scalar(2 / Math.sqrt(Math.PI), x), ctx.op('Exp', [ctx.neg(ctx.mul(x, x))])),
  ),
  Cast: (ctx) => [ctx.castLike(ctx.gradOutput(), ctx.input(0))],
  Softmax: softmax,
  LogSoftmax: logSoftmax,
  SoftmaxCrossEntropyLoss: softmaxCrossEntropyLoss,
  ReduceSum: reduceSum,
  ReduceMean: reduceMean,
  Reshape: (ctx) => [...reshapeBack(ctx), undefined],
  Flatten: reshapeBack,
  Squeeze: (ctx) => [...reshapeBack(ctx), undefined],
  Unsqueeze: (ctx) => [...reshapeBack(ctx), undefined],
  Transpose: transpose,
  Concat: concat,
  Dropout: dropout,
  ...TENSOR_VJP_RULES,
};
