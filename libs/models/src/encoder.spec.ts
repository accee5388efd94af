import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encoderInferenceModel, encoderParameters, encoderTrainingGraph, type EncoderConfig } from './encoder.js';
import { initParameters, type ParameterSpec } from './parameters.js';

const TINY: EncoderConfig = { nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 10, vocabSize: 12, classes: 3 };
const TEXTS = [
  [1, 5, 6, 7],
  [1, 9, 3, 3, 4, 11],
];

/** Returns the texts as rows of `seq` tokens, each padded with id 0 after the text. */
function padded(seq: number): BigInt64Array {
  const out = new BigInt64Array(TEXTS.length * seq);
  TEXTS.forEach((text, r) => text.forEach((t, i) => (out[r * seq + i] = BigInt(t))));
  return out;
}

function parameterFeeds(specs: ParameterSpec[], params: Float32Array): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const spec of specs) {
    feeds[spec.name] = new ort.Tensor('float32', params.slice(spec.offset, spec.offset + spec.size), spec.shape);
  }
  return feeds;
}

describe('encoderInferenceModel', () => {
  it('should ignore the padding length (tolerance 1e-6)', async () => {
    const params = initParameters(encoderParameters(TINY), 4);
    // Larger weights than the initial ones make attention far from uniform, so a leak would show.
    for (let i = 0; i < params.length; i++) params[i]! *= 20;
    const session = await ort.InferenceSession.create(encoderInferenceModel(TINY, params));
    const logitsAt = async (seq: number) => {
      const idx = new ort.Tensor('int64', padded(seq), [TEXTS.length, seq]);
      return (await session.run({ idx }))['logits']!.data as Float32Array;
    };
    const reference = await logitsAt(6);
    for (const seq of [7, 8, 10]) {
      const got = await logitsAt(seq);
      for (let i = 0; i < reference.length; i++) expect(Math.abs(got[i]! - reference[i]!)).toBeLessThan(1e-6);
    }
    await session.release();
  });
});

describe('encoderTrainingGraph', () => {
  it('should match the inference model and skip label -1 (tolerance 1e-5)', async () => {
    const specs = encoderParameters(TINY);
    const params = initParameters(specs, 8);
    const graph = encoderTrainingGraph(TINY, { batch: 3 });
    const train = await ort.InferenceSession.create(graph.bytes);
    const idx = new BigInt64Array(3 * TINY.blockSize);
    idx.set(padded(TINY.blockSize));
    const labels = BigInt64Array.from([2n, 0n, -1n]);
    const out = await train.run({
      ...parameterFeeds(specs, params),
      idx: new ort.Tensor('int64', idx, [3, TINY.blockSize]),
      labels: new ort.Tensor('int64', labels, [3]),
    });
    const infer = await ort.InferenceSession.create(encoderInferenceModel(TINY, params));
    const shortIdx = new ort.Tensor('int64', padded(6), [2, 6]);
    const logits = (await infer.run({ idx: shortIdx }))['logits']!.data as Float32Array;
    let reference = 0;
    [2, 0].forEach((label, r) => {
      const row = logits.subarray(r * 3, r * 3 + 3);
      const max = Math.max(...row);
      reference += max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) - row[label]!;
    });
    const lossSum = (out['loss_sum']!.data as Float32Array)[0]!;
    expect(Math.abs(lossSum - reference) / reference).toBeLessThan(1e-5);
    expect(graph.outputs.gradients).toHaveLength(specs.length);
    await Promise.all([train.release(), infer.release()]);
  });
});
