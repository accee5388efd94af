import { tensor, type Graph, type Value } from '@ringtrain/graph';

/**
 * Fake quantisation of a model's Gemm layers, for quantisation-aware training. Each weight and
 * each Gemm input passes QuantizeLinear (or DynamicQuantizeLinear) and then DequantizeLinear.
 * The forward pass thus computes with the int8 and uint8 values of the dynamic int8 export,
 * and the autodiff passes gradients through each pair by the straight-through estimator.
 */
export interface FakeQuantSettings {
  /**
   * Weights as symmetric int8 with the scale absmax / 127 of each output channel ('perChannel')
   * or of the whole matrix ('perTensor'), or left in float ('none').
   */
  weights: 'perChannel' | 'perTensor' | 'none';
  /**
   * Gemm inputs as uint8 with a range from their min and max widened to contain 0, computed
   * for each sample ('sample') or over all rows of the batch ('batch'), or left in float
   * ('none').
   */
  activations: 'sample' | 'batch' | 'none';
}

/**
 * Adds the fake quantisation of a weight [out, in] with the arithmetic of `quantizeMatrix` in
 * @ringtrain/quantize: zero point 0, scale = absmax / 127 computed in float32 (1 for an
 * all-zero channel), round half to even. The scale follows the weight at every step. Node
 * names start with `name`, and the result is `<name>/dequantized`.
 */
export function fakeQuantizeWeight(g: Graph, weight: Value, perChannel: boolean, name: string): Value {
  const [out] = weight.shape as [number, number];
  const magnitude = g.op('Abs', [weight], {}, { name: `${name}/abs` });
  const reduce: Record<string, number | number[]> = perChannel ? { axes: [1], keepdims: 0 } : { keepdims: 0 };
  const absMax = g.op('ReduceMax', [magnitude], reduce, { name: `${name}/absmax` });
  const zero = g.scalar(0, 'float32', `${name}/zero`);
  const scaled = g.op('Div', [absMax, g.scalar(127, 'float32', `${name}/int8_max`)], {}, { name: `${name}/absmax_scale` });
  const scale = g.op('Where', [g.op('Greater', [absMax, zero]), scaled, g.scalar(1, 'float32', `${name}/one`)], {}, { name: `${name}/scale` });
  const channels = perChannel ? [out] : [];
  const zeroPoint = g.constant(tensor('int8', channels, new Int8Array(perChannel ? out : 1)), `${name}/zero_point`);
  const quantized = g.op('QuantizeLinear', [weight, scale, zeroPoint], { axis: 0 }, { name: `${name}/quantized` });
  return g.op('DequantizeLinear', [quantized, scale, zeroPoint], { axis: 0 }, { name: `${name}/dequantized` });
}

/**
 * Adds the fake quantisation of a Gemm input [batch, features] with the arithmetic of ONNX
 * DynamicQuantizeLinear: uint8, range [min(x, 0), max(x, 0)], scale = range / 255 (1 for an
 * all-zero range), zero point = round(-min / scale) clamped to [0, 255].
 *
 * With 'batch', one DynamicQuantizeLinear covers the whole tensor, which is what the dynamic
 * int8 model computes for the same batch. With 'sample', the same formulas run per row through
 * ReduceMin, ReduceMax and a per-axis QuantizeLinear, which is what that model computes for one
 * sample at a time. Per-sample ranges do not depend on how a batch is split across ranks or
 * micro-batches. Node names start with `name`, and the result is `<name>/dequantized`.
 */
export function fakeQuantizeActivation(g: Graph, x: Value, range: 'sample' | 'batch', name: string): Value {
  if (range === 'batch') {
    const [quantized, scale, zeroPoint] = g.node('DynamicQuantizeLinear', [x], {}, { name: `${name}/quantized` });
    return g.op('DequantizeLinear', [quantized!, scale!, zeroPoint!], {}, { name: `${name}/dequantized` });
  }
  const zero = g.scalar(0, 'float32', `${name}/zero`);
  const rowMin = g.op('ReduceMin', [x], { axes: [1], keepdims: 0 }, { name: `${name}/row_min` });
  const rowMax = g.op('ReduceMax', [x], { axes: [1], keepdims: 0 }, { name: `${name}/row_max` });
  const low = g.op('Min', [rowMin, zero], {}, { name: `${name}/low` });
  const high = g.op('Max', [rowMax, zero], {}, { name: `${name}/high` });
  const width = g.op('Sub', [high, low], {}, { name: `${name}/range` });
  const steps = g.op('Div', [width, g.scalar(255, 'float32', `${name}/uint8_max`)], {}, { name: `${name}/range_scale` });
  const scale = g.op('Where', [g.op('Greater', [width, zero]), steps, g.scalar(1, 'float32', `${name}/one`)], {}, { name: `${name}/scale` });
  // DynamicQuantizeLinear clamps qmin - min / scale to [0, 255] before it rounds, with qmin 0 for uint8.
  const shifted = g.op('Neg', [g.op('Div', [low, scale])], {}, { name: `${name}/zero_shift` });
  const clamped = g.op('Clip', [shifted, zero, g.scalar(255, 'float32', `${name}/clip_max`)], {}, { name: `${name}/zero_clamped` });
  // ONNX data type 2 is UINT8. Round takes halves to the even neighbour, as the kernel does.
  const zeroPoint = g.op('Cast', [g.op('Round', [clamped])], { to: 2 }, { name: `${name}/zero_point` });
  const quantized = g.op('QuantizeLinear', [x, scale, zeroPoint], { axis: 0 }, { name: `${name}/quantized` });
  return g.op('DequantizeLinear', [quantized, scale, zeroPoint], { axis: 0 }, { name: `${name}/dequantized` });
}
