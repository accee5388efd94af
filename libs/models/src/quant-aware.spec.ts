import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { onnx } from '@ringtrain/proto';
import type { FakeQuantSettings } from './fake-quant.js';
import { mlpParameters, mlpTrainingGraph, type MlpConfig } from './mlp.js';
import { initParameters } from './parameters.js';

const MLP: MlpConfig = { inputSize: 784, hidden: [48, 32], classes: 10 };
const BATCH = 8;
const SPECS = mlpParameters(MLP);
const WEIGHTS = SPECS.filter((s) => s.decay);

/** Adds graph outputs for internal float32 values of the given shapes. */
function withOutputs(bytes: Uint8Array, outputs: Record<string, number[]>): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  for (const [name, shape] of Object.entries(outputs)) {
    const dim = shape.map((d) => ({ dimValue: d }));
    model.graph!.output.push(onnx.ValueInfoProto.fromPartial({ name, type: { tensorType: { elemType: onnx.TensorProto_DataType.FLOAT, shape: { dim } } } }));
  }
  return onnx.ModelProto.encode(model).finish();
}

/** Feeds over one flat parameter buffer: writing to `params` changes what the next run reads. */
function feedsFor(params: Float32Array, seed: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {
    input: new ort.Tensor('float32', Float32Array.from({ length: BATCH * 784 }, (_, i) => (((i + seed) * 7919) % 256) / 255), [BATCH, 784]),
    labels: new ort.Tensor('int64', BigInt64Array.from({ length: BATCH }, (_, i) => BigInt((i * 3 + seed) % 10)), [BATCH]),
  };
  for (const spec of SPECS) feeds[spec.name] = new ort.Tensor('float32', params.subarray(spec.offset, spec.offset + spec.size), spec.shape);
  return feeds;
}

async function lossAt(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<number> {
  return (await session.run(feeds))['loss_sum']!.data[0] as number;
}

/**
 * Central differences of the summed loss in float32, because ONNX QuantizeLinear and
 * DynamicQuantizeLinear take no float64 at opset 17. With a step of 1e-2, the rounding of a
 * loss near 20 (ulp 2e-6) contributes about 1e-4 and the truncation h^2 / 6 L''' about 1e-5.
 */
async function centralDifference(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, data: Float32Array, index: number): Promise<number> {
  const h = 1e-2;
  const x = data[index]!;
  data[index] = x + h;
  const plus = await lossAt(session, feeds);
  data[index] = x - h;
  const minus = await lossAt(session, feeds);
  data[index] = x;
  return (plus - minus) / (Math.fround(x + h) - Math.fround(x - h));
}

const TOLERANCE = 1e-3;
const SETTINGS: FakeQuantSettings[] = [
  { weights: 'perChannel', activations: 'sample' },
  { weights: 'perTensor', activations: 'batch' },
];

describe('quantisation-aware MLP gradients', () => {
  for (const quant of SETTINGS) {
    it(`last bias matches finite differences, ${quant.weights}, ${quant.activations}`, async () => {
      // The last bias is added after every quantiser, so the loss is smooth in it.
      const params = initParameters(SPECS, 5);
      const session = await ort.InferenceSession.create(mlpTrainingGraph(MLP, { quant }).bytes);
      const feeds = feedsFor(params, 1);
      const analytic = (await session.run(feeds))['grad.fc2.bias']!.data as Float32Array;
      const bias = SPECS.find((s) => s.name === 'fc2.bias')!;
      for (let j = 0; j < bias.size; j++) {
        const numeric = await centralDifference(session, feeds, params, bias.offset + j);
        expect(Math.abs(analytic[j]! - numeric), `fc2.bias[${j}]: analytic ${analytic[j]}, numeric ${numeric}`).toBeLessThan(TOLERANCE);
      }
      await session.release();
    });
  }

  it('weight gradient is that of the dequantised weight', async () => {
    const params = initParameters(SPECS, 6);
    const quant: FakeQuantSettings = { weights: 'perChannel', activations: 'sample' };
    const dequantized = Object.fromEntries(WEIGHTS.map((s) => [`${s.name}/dequantized`, s.shape]));
    const qat = await ort.InferenceSession.create(withOutputs(mlpTrainingGraph(MLP, { quant }).bytes, dequantized));
    const out = await qat.run(feedsFor(params, 2));
    const straightThrough = out['grad.fc2.weight']!.data as Float32Array;

    // The same forward pass with the dequantised weights as parameters and float weights in the graph.
    const floatWeights = params.slice();
    for (const spec of WEIGHTS) floatWeights.set(out[`${spec.name}/dequantized`]!.data as Float32Array, spec.offset);
    expect(floatWeights.some((v, i) => v !== params[i]), 'quantisation moved some weights').toBe(true);
    const reference = await ort.InferenceSession.create(mlpTrainingGraph(MLP, { quant: { ...quant, weights: 'none' } }).bytes);
    const feeds = feedsFor(floatWeights, 2);
    expect(await lossAt(reference, feeds)).toBeCloseTo(out['loss_sum']!.data[0] as number, 4);

    // The loss is smooth in the last layer's dequantised weight [10, 32]: its quantised inputs do not depend on it.
    const weight = SPECS.find((s) => s.name === 'fc2.weight')!;
    for (const j of [0, 7, 33, 64, 101, 150, 222, 319]) {
      const numeric = await centralDifference(reference, feeds, floatWeights, weight.offset + j);
      expect(Math.abs(straightThrough[j]! - numeric), `fc2.weight[${j}]: straight-through ${straightThrough[j]}, numeric ${numeric}`).toBeLessThan(TOLERANCE);
    }
    // The scale absmax / 127 clips no weight, so every gradient passes: the first layer's equals the reference graph's.
    const direct = (await reference.run(feeds))['grad.fc0.weight']!.data as Float32Array;
    const first = out['grad.fc0.weight']!.data as Float32Array;
    let worst = 0;
    direct.forEach((d, i) => (worst = Math.max(worst, Math.abs(d - first[i]!))));
    expect(worst).toBeLessThan(1e-5);
    await qat.release();
    await reference.release();
  });

  it('pruned weights get no gradient', async () => {
    const graph = mlpTrainingGraph(MLP, { quant: { weights: 'perChannel', activations: 'sample' }, weightMasks: true });
    const params = initParameters(SPECS, 7);
    const feeds = feedsFor(params, 3);
    for (const { name, parameter } of graph.weightMasks!) {
      const spec = SPECS.find((s) => s.name === parameter)!;
      feeds[name] = new ort.Tensor('float32', Float32Array.from({ length: spec.size }, (_, i) => (i % 4 === 0 ? 0 : 1)), spec.shape);
    }
    const session = await ort.InferenceSession.create(graph.bytes);
    const grad = (await session.run(feeds))['grad.fc1.weight']!.data as Float32Array;
    grad.forEach((g, i) => i % 4 === 0 && expect(Math.abs(g), `fc1.weight[${i}]`).toBe(0));
    expect(grad.some((g, i) => i % 4 !== 0 && g !== 0)).toBe(true);
    await session.release();
  });

  it('distils with a fake-quantised student', async () => {
    const quant: FakeQuantSettings = { weights: 'perChannel', activations: 'sample' };
    const graph = mlpTrainingGraph(MLP, { quant, distill: { temperature: 4, alpha: 1 } });
    const params = initParameters(SPECS, 8);
    const feeds = feedsFor(params, 4);
    const teacher = Float32Array.from({ length: BATCH * 10 }, (_, i) => Math.sin(i));
    feeds['teacher_logits'] = new ort.Tensor('float32', teacher, [BATCH, 10]);
    const session = await ort.InferenceSession.create(graph.bytes);
    const out = await session.run(feeds);
    // With alpha 1 the loss is the soft term alone, which the last bias moves smoothly.
    const bias = SPECS.find((s) => s.name === 'fc2.bias')!;
    const analytic = out['grad.fc2.bias']!.data as Float32Array;
    for (const j of [0, 4, 9]) {
      const numeric = await centralDifference(session, feeds, params, bias.offset + j);
      expect(Math.abs(analytic[j]! - numeric), `fc2.bias[${j}]: analytic ${analytic[j]}, numeric ${numeric}`).toBeLessThan(TOLERANCE);
    }
    await session.release();
  });

  it('EXPECTED FAILURE - fake quantisation in float64', () => {
    expect(() => mlpTrainingGraph(MLP, { dtype: 'float64', quant: { weights: 'perChannel', activations: 'sample' } })).toThrow(
      /fake quantisation needs dtype float32, got float64/,
    );
  });
});
