import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { RunConfig } from '@ringtrain/config';
import { readModelMetadata } from '@ringtrain/graph';
import type { TeacherHiddenInput, TeacherInput } from '@ringtrain/models';
import { exposeValues } from './teacher-values.js';

/** Name of the teacher file in a run directory, which workers fetch from the coordinator. */
export const TEACHER_ARTIFACT = 'teacher.onnx';

/** The student data a teacher receives: the student's first data input and its per-sample shape. */
export interface StudentData {
  name: string;
  dtype: 'float32' | 'int64';
  /** Shape of one sample, e.g. [784] for MNIST or [64] for 64-token windows. */
  sampleShape: number[];
  /** The student's vocabulary in id order, for language models. The teacher must use the same one. */
  vocab?: readonly string[];
}

/**
 * Returns the student data that a run's teacher receives (the first data input of the model
 * kind) and the teacher output the student expects: logits over its classes, or for a GPT over
 * the vocabulary at every position.
 */
export function studentDataOf(config: RunConfig, vocab?: readonly string[]): { student: StudentData; teacherInput: TeacherInput } {
  const m = config.model;
  const name = 'teacher_logits';
  switch (m.kind) {
    case 'mlp':
      return { student: { name: 'input', dtype: 'float32', sampleShape: [m.inputSize] }, teacherInput: { name, classes: m.classes, rowsPerSample: 1 } };
    case 'gpt':
      return {
        student: { name: 'idx', dtype: 'int64', sampleShape: [m.blockSize], vocab },
        teacherInput: { name, classes: m.vocabSize || (vocab?.length ?? 0), rowsPerSample: m.blockSize },
      };
    case 'encoder':
      return { student: { name: 'idx', dtype: 'int64', sampleShape: [m.blockSize] }, teacherInput: { name, classes: m.classes, rowsPerSample: 1 } };
  }
}

/** The teacher's outputs for one student batch, shaped as the student graph's inputs. */
export interface TeacherOutputs {
  /** float32 [rows, classes]. */
  logits: ort.Tensor;
  /** float32 [rows, width] per hidden-state input of the student, in the graph's order. */
  hidden: ort.Tensor[];
}

/**
 * Runs a teacher model in its own inference session on the student's batches and returns its
 * logits as the student's `teacher_logits` input, and the hidden states that the student's
 * hidden-state terms compare with. The session is created once. Every mismatch
 * with the student (input name or type, class count, vocabulary) is found then, and the error
 * names what was expected and what the file contains.
 */
export class TeacherRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputName: string,
    private readonly outputName: string,
    private readonly sampleShape: number[],
    private readonly teacherInput: TeacherInput,
    private readonly hiddenInputs: readonly TeacherHiddenInput[],
  ) {}

  /**
   * Loads the teacher and checks it against the student with a one-sample run of zeros.
   *
   * @throws Error naming the teacher file and the mismatch
   */
  static async create(
    bytes: Uint8Array,
    config: RunConfig,
    student: StudentData,
    teacherInput: TeacherInput,
    threads: number,
    hiddenInputs: readonly TeacherHiddenInput[] = [],
  ): Promise<TeacherRunner> {
    const where = `teacher ${config.distill.teacher ?? TEACHER_ARTIFACT}`;
    const metadata = readModelMetadata(bytes);
    checkVocabulary(where, config, metadata, student.vocab);
    // Hidden states are intermediate values, which a session returns only as graph outputs.
    const model = hiddenInputs.length === 0 ? bytes : exposeValues(bytes, hiddenInputs.map((h) => h.teacherValue), where);
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: config.distill.teacherThreads || threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const inputName = config.distill.teacherInput ?? onlyName(where, 'input', session.inputNames, 'distill.teacherInput');
    if (!session.inputNames.includes(inputName)) {
      throw new Error(`${where} has inputs [${session.inputNames.join(', ')}] but not '${inputName}'; set distill.teacherInput to one of them`);
    }
    const outputName = config.distill.teacherOutput;
    if (!session.outputNames.includes(outputName)) {
      throw new Error(`${where} has outputs [${session.outputNames.join(', ')}] but not '${outputName}'; set distill.teacherOutput to the one with the logits`);
    }
    const sampleShape = config.distill.teacherShape ?? student.sampleShape;
    const perSample = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    if (perSample(sampleShape) !== perSample(student.sampleShape)) {
      throw new Error(
        `distill.teacherShape [${sampleShape.join(', ')}] has ${perSample(sampleShape)} elements per sample, but the student's ` +
          `'${student.name}' has [${student.sampleShape.join(', ')}]; give a shape with the same number of elements`,
      );
    }
    const runner = new TeacherRunner(session, inputName, outputName, sampleShape, teacherInput, hiddenInputs);
    const zeros = student.dtype === 'int64'
      ? new ort.Tensor('int64', new BigInt64Array(perSample(sampleShape)), [1, ...student.sampleShape])
      : new ort.Tensor('float32', new Float32Array(perSample(sampleShape)), [1, ...student.sampleShape]);
    await runner.run(zeros, where);
    return runner;
  }

  /**
   * Runs the teacher on a student batch `[n, ...sampleShape]` and returns its logits as
   * float32 [n * rowsPerSample, classes], and each hidden state as [n * rowsPerSample, width].
   *
   * @throws Error when an output does not have the student's class count or hidden width
   */
  async run(batch: ort.Tensor, where = 'teacher'): Promise<TeacherOutputs> {
    const n = batch.dims[0]!;
    const { classes, rowsPerSample } = this.teacherInput;
    const rows = n * rowsPerSample;
    const input = new ort.Tensor(batch.type as 'float32' | 'int64', batch.data as Float32Array | BigInt64Array, [n, ...this.sampleShape]);
    const fetches = [this.outputName, ...this.hiddenInputs.map((h) => h.teacherValue)];
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run({ [this.inputName]: input }, fetches);
    } catch (err) {
      throw new Error(`${where} failed on input '${this.inputName}' [${input.dims.join(', ')}] ${input.type}: ${(err as Error).message}`);
    }
    const logits = out[this.outputName]!;
    if (logits.type !== 'float32' || logits.data.length !== rows * classes || logits.dims[logits.dims.length - 1] !== classes) {
      throw new Error(
        `${where} returned '${this.outputName}' ${logits.type} [${logits.dims.join(', ')}] for ${n} samples; the student expects ` +
          `float32 logits over ${classes} classes, ${rowsPerSample} row(s) per sample`,
      );
    }
    const hidden = this.hiddenInputs.map(({ teacherValue, width }) => {
      const value = out[teacherValue]!;
      if (value.type !== 'float32' || value.data.length !== rows * width || value.dims[value.dims.length - 1] !== width) {
        throw new Error(
          `${where} gives hidden state '${teacherValue}' as ${value.type} [${value.dims.join(', ')}] for ${n} samples; the student expects ` +
            `float32 of width ${width}, ${rowsPerSample} row(s) per sample. Set distill.hiddenWidth to the teacher's width.`,
        );
      }
      return new ort.Tensor('float32', value.data as Float32Array, [rows, width]);
    });
    return { logits: new ort.Tensor('float32', logits.data as Float32Array, [rows, classes]), hidden };
  }
}

function onlyName(where: string, kind: string, names: readonly string[], key: string): string {
  if (names.length !== 1) throw new Error(`${where} has ${names.length} ${kind}s [${names.join(', ')}]; set ${key} to the one that takes the student's data`);
  return names[0]!;
}

/** Checks a language-model teacher's vocabulary, from its metadata or `distill.teacherVocab`, against the student's. */
function checkVocabulary(where: string, config: RunConfig, metadata: Record<string, string>, studentVocab: readonly string[] | undefined): void {
  if (studentVocab === undefined) return;
  const file = config.distill.teacherVocab;
  const text = metadata['vocab'] ?? (file === undefined ? undefined : readVocabFile(file));
  if (text === undefined) {
    throw new Error(`${where} has no 'vocab' in its metadata; set distill.teacherVocab to a JSON file with its characters in id order`);
  }
  if (text !== JSON.stringify(studentVocab)) {
    throw new Error(`${where} has another vocabulary than the student's text (${text.slice(0, 60)}...); the teacher must be trained on the same characters`);
  }
}

/** Reads `distill.teacherVocab`, a JSON array of characters, and returns it in canonical JSON. */
function readVocabFile(file: string): string {
  try {
    return JSON.stringify(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new Error(`cannot read distill.teacherVocab ${file}: ${(err as Error).message}; pass a JSON file with the teacher's characters in id order`);
  }
}
