import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { mlpParameters, mlpTrainingGraph, type MlpConfig } from './mlp.js';
import { initParameters } from './parameters.js';

const CFG: MlpConfig = { inputSize: 6, hidden: [5], classes: 3 };

describe('MLP weight masks', () => {
  it('give pruned weights no effect and no gradient', async () => {
    const graph = mlpTrainingGraph(CFG, { weightMasks: true });
    expect(graph.weightMasks).toEqual([
      { name: 'prune_mask.fc0.weight', parameter: 'fc0.weight' },
      { name: 'prune_mask.fc1.weight', parameter: 'fc1.weight' },
    ]);
    const specs = mlpParameters(CFG);
    const params = initParameters(specs, 1);
    const mask = Float32Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const feeds = (weights: Float32Array, fc0Mask: Float32Array): Record<string, ort.Tensor> => {
      const f: Record<string, ort.Tensor> = {
        input: new ort.Tensor('float32', Float32Array.from({ length: 24 }, (_, i) => Math.cos(i)), [4, 6]),
        labels: new ort.Tensor('int64', BigInt64Array.from([0n, 1n, 2n, 1n]), [4]),
        'prune_mask.fc0.weight': new ort.Tensor('float32', fc0Mask, [5, 6]),
        'prune_mask.fc1.weight': new ort.Tensor('float32', new Float32Array(15).fill(1), [3, 5]),
      };
      for (const spec of specs) f[spec.name] = new ort.Tensor('float32', weights.slice(spec.offset, spec.offset + spec.size), spec.shape);
      return f;
    };
    const session = await ort.InferenceSession.create(graph.bytes);
    const masked = await session.run(feeds(params, mask));
    const grad = masked['grad.fc0.weight']!.data as Float32Array;
    mask.forEach((m, i) => m === 0 && expect(Math.abs(grad[i]!)).toBe(0));
    expect(grad.some((g, i) => mask[i] === 1 && g !== 0)).toBe(true);
    // Masking equals zeroing the same weights.
    const zeroed = params.slice();
    mask.forEach((m, i) => m === 0 && (zeroed[i] = 0));
    const plain = await session.run(feeds(zeroed, new Float32Array(30).fill(1)));
    expect(masked['loss_sum']!.data[0]).toBeCloseTo(plain['loss_sum']!.data[0] as number, 6);
  });
});
