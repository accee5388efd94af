import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { initParameters, mlpInferenceModel, mlpParameters, type MlpConfig } from '@ringtrain/models';
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
    const got = await runner.run(batch(5));
    const alone = await ort.InferenceSession.create(bytes);
    const want = (await alone.run({ input: batch(5) }))['logits']!;
    expect(got.dims).toEqual([5, 10]);
    expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
  });

  it('reshapes the student data to distill.teacherShape', async () => {
    const runner = await TeacherRunner.create(teacherBytes(TEACHER), config(['distill.teacherShape=784']), STUDENT, TEACHER_INPUT, 1);
    expect((await runner.run(batch(2))).dims).toEqual([2, 10]);
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
});
