import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Philox } from '@ringtrain/random';
import { gptInferenceModel, gptParameters, gptTrainingGraph, type GptConfig } from './gpt.js';
import { initParameters, modelParameters, parameterCount, type ParameterSpec } from './parameters.js';
import type { HiddenDistillSettings, TrainingGraph } from './training-graph.js';

const CFG: GptConfig = { nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 4, vocabSize: 5 };
const BATCH = 2;
const ROWS = BATCH * CFG.blockSize;

function hidden(teacherWidth: number, weight = 0.5): HiddenDistillSettings {
  return { pairs: [{ studentBlock: 0, teacherValue: 'h1/resid_mlp' }, { studentBlock: 1, teacherValue: 'h3/resid_mlp' }], teacherWidth, loss: 'mse', weight };
}

function noise(n: number, seed: number): Float32Array {
  const rng = new Philox(seed, 1);
  return Float32Array.from({ length: n }, (_, i) => rng.normal(i));
}

/** Runs a graph on fixed tokens, with the last position of the second window as padding. */
async function run(graph: TrainingGraph, params: Float32Array, width: number) {
  const feeds: Record<string, ort.Tensor> = {
    idx: new ort.Tensor('int64', BigInt64Array.from([1n, 2n, 3n, 4n, 0n, 1n, 2n, 0n]), [BATCH, CFG.blockSize]),
    targets: new ort.Tensor('int64', BigInt64Array.from([2n, 3n, 4n, 0n, 1n, 2n, 3n, -1n]), [BATCH, CFG.blockSize]),
    teacher_logits: new ort.Tensor('float32', noise(ROWS * CFG.vocabSize, 9), [ROWS, CFG.vocabSize]),
  };
  for (const input of graph.teacherHiddenInputs ?? []) {
    const values = noise(ROWS * width, 10 + Number(input.name.slice(-1)));
    // NaN on the padding row must not reach the loss.
    values.fill(Number.NaN, (ROWS - 1) * width);
    feeds[input.name] = new ort.Tensor('float32', values, [ROWS, width]);
  }
  for (const spec of graph.parameters) feeds[spec.name] = new ort.Tensor('float32', params.slice(spec.offset, spec.offset + spec.size), spec.shape);
  const session = await ort.InferenceSession.create(graph.bytes);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const lossOf = (out: ort.InferenceSession.ReturnType) => Number(out['loss_sum']!.data[0]);

describe('hidden-state distillation in the GPT training graph', () => {
  it('teacher inputs and projections per pair', () => {
    const same = gptTrainingGraph(CFG, { batch: BATCH, distill: { temperature: 2, alpha: 0.5, hidden: hidden(8) } });
    expect(same.teacherHiddenInputs).toEqual([
      { name: 'teacher_hidden.0', teacherValue: 'h1/resid_mlp', width: 8 },
      { name: 'teacher_hidden.1', teacherValue: 'h3/resid_mlp', width: 8 },
    ]);
    expect(same.parameters.length).toBe(gptParameters(CFG).length);
    const wide = gptTrainingGraph(CFG, { batch: BATCH, distill: { temperature: 2, alpha: 0.5, hidden: hidden(12) } });
    const extra = wide.parameters.filter((p) => p.trainingOnly);
    expect(extra.map((p) => [p.name, p.shape])).toEqual([['distill.proj0.weight', [12, 8]], ['distill.proj1.weight', [12, 8]]]);
    // The model's tensors keep their offsets, so model.onnx is written from the buffer's prefix.
    expect(modelParameters(wide.parameters)).toEqual(gptParameters(CFG));
    const params = initParameters(wide.parameters, 1);
    expect(() => gptInferenceModel(CFG, params.subarray(0, parameterCount(gptParameters(CFG))))).not.toThrow();
  });

  it('weight 0 equals plain distillation', async () => {
    const plain = gptTrainingGraph(CFG, { batch: BATCH, distill: { temperature: 2, alpha: 0.5 } });
    const withHidden = gptTrainingGraph(CFG, { batch: BATCH, distill: { temperature: 2, alpha: 0.5, hidden: hidden(12, 0) } });
    const params = initParameters(withHidden.parameters, 3);
    const a = await run(plain, params, 12);
    const b = await run(withHidden, params, 12);
    expect(lossOf(b)).toBeCloseTo(lossOf(a), 6);
    const ga = a['grad.h0.attn.c_attn.weight']!.data as Float32Array;
    const gb = b['grad.h0.attn.c_attn.weight']!.data as Float32Array;
    for (let i = 0; i < ga.length; i++) expect(Math.abs(ga[i]! - gb[i]!)).toBeLessThan(1e-6);
  });

  it('gradients against central differences', async () => {
    const graph = gptTrainingGraph(CFG, { batch: BATCH, distill: { temperature: 2, alpha: 0.5, hidden: hidden(12, 0.7) } });
    const params = initParameters(graph.parameters, 4);
    // Larger weights than the 0.02 init make the hidden terms matter beside the logit loss.
    for (let i = 0; i < params.length; i++) params[i]! *= 5;
    const base = await run(graph, params, 12);
    expect(Number.isFinite(lossOf(base))).toBe(true);
    const spec = (name: string) => graph.parameters.find((p) => p.name === name) as ParameterSpec;
    const eps = 1e-2;
    for (const name of ['distill.proj1.weight', 'h0.mlp.c_fc.weight']) {
      const s = spec(name);
      const grad = base[`grad.${name}`]!.data as Float32Array;
      for (const i of [0, 5, 17]) {
        const plus = params.slice();
        const minus = params.slice();
        plus[s.offset + i]! += eps;
        minus[s.offset + i]! -= eps;
        const numeric = (lossOf(await run(graph, plus, 12)) - lossOf(await run(graph, minus, 12))) / (2 * eps);
        expect(Math.abs(numeric - grad[i]!), `${name}[${i}]: numeric ${numeric}, analytic ${grad[i]}`).toBeLessThan(2e-2 * Math.max(1, Math.abs(numeric)));
      }
    }
  });

  it('EXPECTED FAILURE - a missing student block', () => {
    const bad: HiddenDistillSettings = { ...hidden(8), pairs: [{ studentBlock: 2, teacherValue: 'h0/resid_mlp' }] };
    expect(() => gptTrainingGraph(CFG, { batch: BATCH, distill: { temperature: 2, alpha: 0.5, hidden: bad } })).toThrow(
      /names student block 2, but the student has blocks 0 to 1/,
    );
  });
});
