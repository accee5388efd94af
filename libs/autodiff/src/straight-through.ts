import { normalizeAxis, type Node, type Value } from '@ringtrain/graph';
import { GradientError, type VjpContext } from './vjp-context.js';

/*
 * Fake quantisation, y = DequantizeLinear(QuantizeLinear(x, s, z), s, z), is piecewise constant
 * in x, so its true gradient is 0 almost everywhere. The straight-through estimator passes the
 * cotangent of y to x unchanged where x lies inside the range that the integers represent, and
 * gives 0 outside it.
 * The scale and zero point get no gradient, even when they are computed from x.
 */

const QUANTIZERS = new Set(['QuantizeLinear', 'DynamicQuantizeLinear']);

/** Returns whether `node` quantises a float tensor to integers: QuantizeLinear or DynamicQuantizeLinear. */
export function isQuantizer(node: Node): boolean {
  return node.domain === '' && QUANTIZERS.has(node.opType);
}

function axisOf(node: Node): number {
  const a = node.attributes['axis'];
  return a?.type === 'int' ? a.value : 1;
}

/**
 * Returns the quantiser whose output `dequantizer` (a DequantizeLinear) reads, after checking
 * that the pair is a fake quantiser: the DequantizeLinear must take the quantiser's own scale,
 * zero point and axis, so that it undoes the quantisation.
 *
 * @throws GradientError when the input comes from a quantiser with other parameters
 */
export function pairedQuantizer(dequantizer: Node): Node | undefined {
  const quantized = dequantizer.inputs[0];
  const quantizer = quantized?.producer;
  if (quantizer === undefined || !isQuantizer(quantizer)) return undefined;
  const [scale, zeroPoint] = [dequantizer.inputs[1], dequantizer.inputs[2]];
  const pairs = quantizer.opType === 'DynamicQuantizeLinear'
    ? scale === quantizer.outputs[1] && zeroPoint === quantizer.outputs[2]
    : scale === quantizer.inputs[1] && zeroPoint === quantizer.inputs[2] && axisOf(quantizer) === axisOf(dequantizer);
  if (!pairs) {
    throw new GradientError(
      `DequantizeLinear node '${dequantizer.name}' reads the output of ${quantizer.opType} node '${quantizer.name}' ` +
        'with another scale, zero point or axis, so the pair is no fake quantiser and has no straight-through ' +
        'gradient; pass the quantiser\'s own scale and zero point (and axis) to the DequantizeLinear',
    );
  }
  return quantizer;
}

/**
 * Checks a node that reads `value`, the integer output of a quantiser whose input needs a
 * gradient. Only a DequantizeLinear that undoes the quantiser can carry that gradient on, so
 * any other reader would silently cut the input off from the loss.
 *
 * @throws GradientError for any other reader, or a DequantizeLinear with other parameters
 */
export function checkQuantizedReader(reader: Node, value: Value): void {
  if (reader.opType === 'DequantizeLinear' && reader.inputs[0] === value) {
    pairedQuantizer(reader);
    return;
  }
  const quantizer = value.producer!;
  throw new GradientError(
    `${reader.opType} node '${reader.name}' reads '${value.name}', the integer output of ${quantizer.opType} ` +
      `node '${quantizer.name}', whose input needs a gradient. Gradients pass a quantiser only through a ` +
      'DequantizeLinear with its scale and zero point (fake quantisation); dequantise the output first, ' +
      'or quantise a value that needs no gradient',
  );
}

/**
 * Returns the error for a quantiser that the reverse walk reaches: the loss depends on its scale
 * or zero point other than through its DequantizeLinear, and the estimator gives those none.
 */
export function rangeGradientError(quantizer: Node): GradientError {
  return new GradientError(
    `the loss depends on the scale or zero point of ${quantizer.opType} node '${quantizer.name}' outside ` +
      'its fake quantiser, but the straight-through estimator gives quantisation parameters no gradient; ' +
      'use them only in the DequantizeLinear that undoes the quantisation',
  );
}

/** Integer range of a quantised type. */
function integerRange(dtype: string): [number, number] {
  return dtype === 'int8' ? [-128, 127] : [0, 255];
}

/**
 * Returns the straight-through gradient of a fake quantiser for the quantiser's float input:
 * the DequantizeLinear's cotangent, set to 0 where QuantizeLinear clips. An input x is clipped
 * when round(x / s) + z falls outside [qmin, qmax], that is outside
 * [(qmin - z - 1/2) s, (qmax - z + 1/2) s). DynamicQuantizeLinear takes its range from its input,
 * widened to contain 0, so it clips nothing and its gradient is the cotangent itself.
 *
 * @param ctx - the DequantizeLinear node of the pair
 * @throws GradientError when the DequantizeLinear's input comes from no quantiser whose input
 *   needs a gradient, so that the gradient would only reach its scale or zero point
 */
export function straightThroughGradient(ctx: VjpContext): { input: Value; gradient: Value } {
  const quantizer = pairedQuantizer(ctx.node);
  if (quantizer === undefined || !ctx.needsGradient(0)) {
    throw ctx.fail(
      'the scale or zero point needs a gradient, but the straight-through estimator gives quantisation ' +
        'parameters none; compute them from values that need no gradient, or dequantise the output of a ' +
        'QuantizeLinear or DynamicQuantizeLinear whose input needs one',
    );
  }
  const x = quantizer.inputs[0]!;
  const dy = ctx.gradOutput();
  if (quantizer.opType === 'DynamicQuantizeLinear') return { input: x, gradient: dy };

  const scale = quantizer.inputs[1]!;
  const zeroPoint = quantizer.inputs[2];
  const [qmin, qmax] = integerRange(zeroPoint?.dtype ?? 'uint8');
  // Bounds in integer steps, shifted by the zero point, then scaled back to x's units.
  let lowSteps: Value = ctx.scalar(qmin - 0.5, x);
  let highSteps: Value = ctx.scalar(qmax + 0.5, x);
  if (zeroPoint !== undefined) {
    const zero = ctx.castLike(zeroPoint, x);
    lowSteps = ctx.sub(lowSteps, zero);
    highSteps = ctx.sub(highSteps, zero);
  }
  let low = ctx.mul(lowSteps, scale);
  let high = ctx.mul(highSteps, scale);
  if (scale.shape.length === 1) {
    // A per-axis scale lines up with its axis of x: shape [1, ..., C, ..., 1].
    const axis = normalizeAxis(axisOf(quantizer), x.shape.length);
    const shape = x.shape.map((_, i) => (i === axis ? -1 : 1));
    low = ctx.op('Reshape', [low, ctx.int64s(shape)]);
    high = ctx.op('Reshape', [high, ctx.int64s(shape)]);
  }
  const inside = ctx.op('And', [ctx.op('GreaterOrEqual', [x, low]), ctx.op('Less', [x, high])]);
  return { input: x, gradient: ctx.op('Where', [inside, dy, ctx.scalar(0, dy)]) };
}
