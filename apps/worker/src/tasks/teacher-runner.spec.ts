import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import {
  gptInferenceModel,
  gptParameters,
  initParameters,
  mlpInferenceModel,
  mlpParameters,
  type GptConfig,
  type MlpConfig,
} from '@ringtrain/models';
import { TeacherRunner, type StudentData } from './teacher-runner.js';

const TEACHER: MlpConfig = { inputSize: 784, hidden: [16], classes: 10 };
const STUDENT: StudentData = { name: 'input', dtype: 'float32', sampleShape: [784] };
const TEACHER_INPUT = { name: 'teacher_logits', classes: 10, rowsPerSample: 1 };

function teacherBytes(cfg: MlpConfig): Uint8Array {
  return mlpInferenceModel(cfg, initParameters(mlpParameters(cfg), 5));
}

function config(overrides: string[] = []) {
  return resolveRunConfig({ train: { steps: 1 } }, ['distill.teacher=teacher.onnx', ...overrides]);
}

function batch(n: number): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from({ length: n * 784 }, (_, i) => ((i * 37) % 101) / 100), [n, 784]);
}

describe('TeacherRunner', () => {
  it('gives the logits of the teacher run alone', async () => {
    const bytes = teacherBytes(TEACHER);
    const runner = await TeacherRunner.create(bytes, config(), STUDENT, TEACHER_INPUT, 1);
    const got = (await runner.run(batch(5))).logits;
    const alone = await ort.InferenceSession.create(bytes);
    const want = (await alone.run({ input: batch(5) }))['logits']!;
    expect(got.dims).toEqual([5, 10]);
    expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
  });

  it('reshapes the student data to distill.teacherShape', async () => {
    const runner = await TeacherRunner.create(teacherBytes(TEACHER), config(['distill.teacherShape=784']), STUDENT, TEACHER_INPUT, 1);
    expect((await runner.run(batch(2))).logits.dims).toEqual([2, 10]);
  });

  it('EXPECTED FAILURE - a teacher over other classes', async () => {
    const bytes = teacherBytes({ ...TEACHER, classes: 12 });
    await expect(TeacherRunner.create(bytes, config(), STUDENT, TEACHER_INPUT, 1)).rejects.toThrow(
      /returned 'logits' float32 \[1, 12\] for 1 samples; the student expects float32 logits over 10 classes/,
    );
  });

  it('EXPECTED FAILURE - a teacher input that does not exist', async () => {
    await expect(TeacherRunner.create(teacherBytes(TEACHER), config(['distill.teacherInput=pixels']), STUDENT, TEACHER_INPUT, 1)).rejects.toThrow(
      /has inputs \[input\] but not 'pixels'; set distill.teacherInput/,
    );
  });

  it('EXPECTED FAILURE - a teacher shape of another size', async () => {
    await expect(TeacherRunner.create(teacherBytes(TEACHER), config(['distill.teacherShape=1,28,27']), STUDENT, TEACHER_INPUT, 1)).rejects.toThrow(
      /distill.teacherShape \[1, 28, 27\] has 756 elements per sample, but the student's 'input' has \[784\]/,
    );
  });

  it('EXPECTED FAILURE - a language-model teacher without a vocabulary', async () => {
    const student: StudentData = { name: 'input', dtype: 'float32', sampleShape: [784], vocab: ['a', 'b'] };
    await expect(TeacherRunner.create(teacherBytes(TEACHER), config(), student, TEACHER_INPUT, 1)).rejects.toThrow(
      /has no 'vocab' in its metadata; set distill.teacherVocab/,
    );
  });

  describe('hidden states', () => {
    const GPT: GptConfig = { nLayer: 3, nHead: 2, nEmbd: 8, blockSize: 4, vocabSize: 5 };
    const gptStudent: StudentData = { name: 'idx', dtype: 'int64', sampleShape: [4], vocab: ['a', 'b', 'c', 'd', 'e'] };
    const gptInput = { name: 'teacher_logits', classes: 5, rowsPerSample: 4 };
    const params = initParameters(gptParameters(GPT), 8);
    // Larger weights than the init make the blocks' outputs differ clearly from their inputs.
    for (let i = 0; i < params.length; i++) params[i]! *= 10;
    const bytes = gptInferenceModel(GPT, params, { vocab: JSON.stringify(gptStudent.vocab) });
    const gptConfig = (sets: string[] = []) =>
      resolveRunConfig({ model: { kind: 'gpt', nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 4 }, data: { name: 'text' }, train: { steps: 1 } }, ['distill.teacher=t.onnx', ...sets]);
    const tokens = new ort.Tensor('int64', BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 3n, 2n, 1n]), [2, 4]);

    it('returns the last block\'s output, whose final LayerNorm and head give the logits', async () => {
      const hidden = [{ name: 'teacher_hidden.0', teacherValue: 'h2/resid_mlp', width: 8 }];
      const runner = await TeacherRunner.create(bytes, gptConfig(), gptStudent, gptInput, 1, hidden);
      const { logits, hidden: [state] } = await runner.run(tokens);
      expect(state!.dims).toEqual([8, 8]);
      const specs = gptParameters(GPT);
      const tensor = (name: string) => {
        const spec = specs.find((s) => s.name === name)!;
        return params.subarray(spec.offset, spec.offset + spec.size);
      };
      const [scale, shift, wte] = [tensor('ln_f.weight'), tensor('ln_f.bias'), tensor('wte')];
      const h = state!.data as Float32Array;
      for (let r = 0; r < 8; r++) {
        const row = h.subarray(r * 8, r * 8 + 8);
        const mean = row.reduce((a, b) => a + b) / 8;
        const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / 8;
        const normed = Array.from(row, (v, c) => ((v - mean) / Math.sqrt(variance + 1e-5)) * scale[c]! + shift[c]!);
        for (let v = 0; v < 5; v++) {
          const want = normed.reduce((acc, x, c) => acc + x * wte[v * 8 + c]!, 0);
          expect(Math.abs((logits.data as Float32Array)[r * 5 + v]! - want)).toBeLessThan(1e-3 * Math.max(1, Math.abs(want)));
        }
      }
    });

    it('EXPECTED FAILURE - a teacher block that the file does not have', async () => {
      const hidden = [{ name: 'teacher_hidden.0', teacherValue: 'h7/resid_mlp', width: 8 }];
      await expect(TeacherRunner.create(bytes, gptConfig(), gptStudent, gptInput, 1, hidden)).rejects.toThrow(
        /has no value 'h7\/resid_mlp'.*this teacher has 3 of them \(0 to 2\)/,
      );
    });

    it('EXPECTED FAILURE - a hidden width other than the teacher\'s', async () => {
      const hidden = [{ name: 'teacher_hidden.0', teacherValue: 'h1/resid_mlp', width: 16 }];
      await expect(TeacherRunner.create(bytes, gptConfig(), gptStudent, gptInput, 1, hidden)).rejects.toThrow(
        /hidden state 'h1\/resid_mlp' as float32 \[1, 4, 8\].*width 16.*Set distill.hiddenWidth/,
      );
    });
  });
});
