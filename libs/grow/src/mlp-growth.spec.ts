import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { initParameters, mlpInferenceModel, mlpParameters, readMlpModel, type MlpConfig, type MlpModel } from '@ringtrain/models';
import { deepenMlp, widenMlp } from './mlp-growth.js';

const CONFIG: MlpConfig = { inputSize: 784, hidden: [32, 16], classes: 10, inputMean: 0, inputStd: 1 };
const model: MlpModel = { config: CONFIG, params: initParameters(mlpParameters(CONFIG), 9) };
const inputs = new ort.Tensor('float32', Float32Array.from({ length: 64 * 784 }, (_, i) => ((i * 7919) % 256) / 255), [64, 784]);

async function logits(m: MlpModel): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(mlpInferenceModel(m.config, m.params));
  const out = (await session.run({ input: inputs }))['logits']!.data as Float32Array;
  await session.release();
  return out;
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

/** Returns the outgoing weight column of unit `unit` of hidden layer `layer` (in fc{layer+1}). */
function outgoing(m: MlpModel, layer: number, unit: number): number[] {
  const specs = mlpParameters(m.config);
  const spec = specs.find((s) => s.name === `fc${layer + 1}.weight`)!;
  const [rows, cols] = spec.shape as [number, number];
  return Array.from({ length: rows }, (_, r) => m.params[spec.offset + r * cols + unit]!);
}

describe('widenMlp', () => {
  it('keeps the outputs while every hidden layer grows', async () => {
    const wide = widenMlp(model, [48, 40], { seed: 1 });
    expect(wide.config.hidden).toEqual([48, 40]);
    expect(maxDifference(await logits(wide), await logits(model))).toBeLessThan(1e-5);
  });

  it('noise breaks symmetry between copies', () => {
    const exact = widenMlp(model, [33, 16], { seed: 2, noise: 0 });
    const noisy = widenMlp(model, [33, 16], { seed: 2 });
    // The new unit 32 copies some unit s < 32 in both, because the seed is the same.
    const copy = outgoing(exact, 0, 32);
    const source = Array.from({ length: 32 }, (_, s) => s).find((s) => outgoing(exact, 0, s).every((v, i) => v === copy[i]))!;
    expect(source).toBeDefined();
    expect(outgoing(noisy, 0, 32)).not.toEqual(outgoing(noisy, 0, source));
    // The copies share the source's outgoing weights, so each gets half.
    const original = outgoing(model, 0, source);
    copy.forEach((v, i) => expect(v).toBeCloseTo(original[i]! / 2, 7));
  });

  it('EXPECTED FAILURE - a narrower width or a wrong count', () => {
    expect(() => widenMlp(model, [16, 16], { seed: 0 })).toThrow(/hidden layer 0 has 32 units.*got 16/);
    expect(() => widenMlp(model, [64], { seed: 0 })).toThrow(/one width per hidden layer/);
  });
});

describe('deepenMlp', () => {
  it('adds an identity layer that keeps the outputs', async () => {
    for (const after of [0, 1]) {
      const deep = deepenMlp(model, after);
      expect(deep.config.hidden).toEqual(after === 0 ? [32, 32, 16] : [32, 16, 16]);
      expect(maxDifference(await logits(deep), await logits(model))).toBeLessThan(1e-6);
    }
  });

  it('round-trips through model.onnx', async () => {
    const bytes = mlpInferenceModel(CONFIG, model.params);
    const read = readMlpModel(bytes);
    expect(read.config).toEqual(CONFIG);
    expect(Array.from(read.params)).toEqual(Array.from(model.params));
  });

  it('EXPECTED FAILURE - a layer that is not hidden', () => {
    expect(() => deepenMlp(model, 2)).toThrow(/after a hidden layer, 0 to 1, got 2/);
  });
});
