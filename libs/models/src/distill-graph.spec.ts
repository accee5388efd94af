import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { gptTrainingGraph } from './gpt.js';
import { mlpParameters, mlpTrainingGraph, type MlpConfig } from './mlp.js';
import { initParameters } from './parameters.js';

const CFG: MlpConfig = { inputSize: 6, hidden: [5], classes: 3 };
const N = 4;

async function run(bytes: Uint8Array, teacher?: Float32Array) {
  const specs = mlpParameters(CFG);
  const params = initParameters(specs, 2);
  const feeds: Record<string, ort.Tensor> = {
    input: new ort.Tensor('float32', Float32Array.from({ length: N * 6 }, (_, i) => (i % 7) / 7), [N, 6]),
    labels: new ort.Tensor('int64', BigInt64Array.from([0n, 2n, 1n, 2n]), [N]),
  };
  for (const spec of specs) feeds[spec.name] = new ort.Tensor('float32', params.slice(spec.offset, spec.offset + spec.size), spec.shape);
  if (teacher) feeds['teacher_logits'] = new ort.Tensor('float32', teacher, [N, 3]);
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run(feeds);
  await session.release();
  return out;
}

describe('distillation training graphs', () => {
  it('should equal the plain MLP graph at alpha 0', async () => {
    const teacher = Float32Array.from({ length: N * 3 }, (_, i) => Math.sin(i));
    const plain = await run(mlpTrainingGraph(CFG).bytes);
    const distilled = mlpTrainingGraph(CFG, { distill: { temperature: 4, alpha: 0 } });
    expect(distilled.teacherInput).toEqual({ name: 'teacher_logits', classes: 3, rowsPerSample: 1 });
    const out = await run(distilled.bytes, teacher);
    expect(out['loss_sum']!.data[0]).toBeCloseTo(plain['loss_sum']!.data[0] as number, 6);
    const a = out['grad.fc0.weight']!.data as Float32Array;
    const b = plain['grad.fc0.weight']!.data as Float32Array;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-6);
  });

  it('should move the loss with the teacher at alpha 0.9', async () => {
    const graph = mlpTrainingGraph(CFG, { distill: { temperature: 2, alpha: 0.9 } });
    const agree = await run(graph.bytes, new Float32Array(N * 3));
    const sharp = await run(graph.bytes, Float32Array.from({ length: N * 3 }, (_, i) => (i % 3 === 0 ? 10 : -10)));
    expect(sharp['loss_sum']!.data[0]).not.toBeCloseTo(agree['loss_sum']!.data[0] as number, 3);
  });

  it('should take GPT teacher logits per token', () => {
    const graph = gptTrainingGraph({ nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 4, vocabSize: 5 }, { batch: 3, distill: { temperature: 2, alpha: 0.5 } });
    expect(graph.teacherInput).toEqual({ name: 'teacher_logits', classes: 5, rowsPerSample: 4 });
  });
});
