import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { initParameters, mlpInferenceModel, mlpParameters, type MlpConfig, type MlpModel } from '@ringtrain/models';
import { pruneUnits, unitImportance } from './structured.js';

const CONFIG: MlpConfig = { inputSize: 20, hidden: [12, 8], classes: 4, inputMean: 0, inputStd: 1 };

function freshModel(): MlpModel {
  return { config: CONFIG, params: initParameters(mlpParameters(CONFIG), 4) };
}

async function logits(m: MlpModel): Promise<Float32Array> {
  const input = new ort.Tensor('float32', Float32Array.from({ length: 16 * 20 }, (_, i) => Math.sin(i)), [16, 20]);
  const session = await ort.InferenceSession.create(mlpInferenceModel(m.config, m.params));
  const out = (await session.run({ input }))['logits']!.data as Float32Array;
  await session.release();
  return out;
}

/** Zeroes the outgoing weights of unit `unit` of hidden layer 0, so that it no longer affects the output. */
function silence(m: MlpModel, unit: number): void {
  const spec = mlpParameters(m.config).find((s) => s.name === 'fc1.weight')!;
  for (let o = 0; o < 8; o++) m.params[spec.offset + o * 12 + unit] = 0;
}

describe('pruneUnits', () => {
  it('keeps every tensor when every unit stays', () => {
    const m = freshModel();
    const same = pruneUnits(m, [12, 8]);
    expect(Array.from(same.params)).toEqual(Array.from(m.params));
  });

  it('removes silent units first, with the same outputs', async () => {
    const m = freshModel();
    for (const unit of [3, 7, 10]) silence(m, unit);
    expect(unitImportance(m, 0)[7]).toBe(0);
    const small = pruneUnits(m, [9, 8]);
    expect(small.kept[0]).toEqual([0, 1, 2, 4, 5, 6, 8, 9, 11]);
    expect(small.config.hidden).toEqual([9, 8]);
    const [a, b] = [await logits(small), await logits(m)];
    a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(1e-6));
  });

  it('EXPECTED FAILURE - widths outside the layers', () => {
    expect(() => pruneUnits(freshModel(), [13, 8])).toThrow(/hidden layer 0 has 12 units, so it can keep 1 to 12, got 13/);
    expect(() => pruneUnits(freshModel(), [6])).toThrow(/one width per hidden layer/);
  });
});
