import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildGradients, checkGradients } from '@ringtrain/autodiff';
import { Graph, serializeModel, ShapeError, type Dim, type DType, type Value } from '@ringtrain/graph';
import { Philox } from '@ringtrain/random';
import { addDistillationLoss } from './distillation-loss.js';
import { distillationLossReference } from './reference.js';

type FloatArray = Float32Array | Float64Array;

interface LossGraphOptions {
  dtype: 'float32' | 'float64';
  classes: number;
  temperature: number;
  alpha: number;
  /** Batch dimension of the inputs. @defaultValue 'batch' */
  batch?: Dim;
}

/**
 * Builds a graph with inputs `student`, `teacher` and `labels` and outputs `loss`, `soft`, `hard`
 * and `grad_student`, the gradient of `loss` with respect to the student logits.
 */
function lossGraph(options: LossGraphOptions): Uint8Array {
  const g = new Graph('distill_test');
  const batch = options.batch ?? 'batch';
  const student = g.input('student', options.dtype, [batch, options.classes]);
  const teacher = g.input('teacher', options.dtype, [batch, options.classes]);
  const labels = g.input('labels', 'int64', [batch]);
  const { loss, soft, hard } = addDistillationLoss(g, {
    student,
    teacher,
    labels,
    temperature: options.temperature,
    alpha: options.alpha,
  });
  const [gradStudent] = buildGradients(g, { loss, wrt: [student] });
  g.output(loss, 'loss');
  g.output(soft, 'soft');
  g.output(hard, 'hard');
  g.output(gradStudent!, 'grad_student');
  return serializeModel(g);
}

interface Batch {
  student: number[];
  teacher: number[];
  labels: number[];
  rows: number;
  classes: number;
}

async function runSession(
  session: ort.InferenceSession,
  dtype: 'float32' | 'float64',
  batch: Batch,
): Promise<{ loss: number; soft: number; hard: number; gradStudent: FloatArray }> {
  const make = (values: number[]) => (dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values));
  const dims = [batch.rows, batch.classes];
  const out = await session.run({
    student: new ort.Tensor(dtype, make(batch.student), dims),
    teacher: new ort.Tensor(dtype, make(batch.teacher), dims),
    labels: new ort.Tensor('int64', BigInt64Array.from(batch.labels, BigInt), [batch.rows]),
  });
  return {
    loss: Number(out['loss']!.data[0]),
    soft: Number(out['soft']!.data[0]),
    hard: Number(out['hard']!.data[0]),
    gradStudent: out['grad_student']!.data as FloatArray,
  };
}

async function evaluate(options: LossGraphOptions, batch: Batch) {
  const session = await ort.InferenceSession.create(lossGraph(options));
  try {
    return await runSession(session, options.dtype, batch);
  } finally {
    await session.release();
  }
}

/** Standard normal logits with every row shifted to mean zero, from a seeded Philox stream. */
function normalLogits(rows: number, classes: number, seed: number): number[] {
  const rng = new Philox(seed, 17);
  const logits = Array.from({ length: rows * classes }, (_, i) => rng.normal(i));
  for (let n = 0; n < rows; n++) {
    const row = logits.slice(n * classes, (n + 1) * classes);
    const mean = row.reduce((a, b) => a + b, 0) / classes;
    for (let c = 0; c < classes; c++) logits[n * classes + c]! -= mean;
  }
  return logits;
}

function randomBatch(rows: number, classes: number, seed: number): Batch {
  const labelRng = new Philox(seed, 18);
  return {
    student: normalLogits(rows, classes, seed),
    teacher: normalLogits(rows, classes, seed + 1000),
    labels: Array.from({ length: rows }, (_, i) => labelRng.uint32(i) % classes),
    rows,
    classes,
  };
}

function norm(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
  return Math.sqrt(sum);
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Two rows and three classes, worked out by hand below. */
const HAND_BATCH: Batch = {
  student: [2.0, 1.0, 0.1, 0.5, 1.5, -1.0],
  teacher: [3.0, 0.5, -0.5, 0.0, 2.0, 0.0],
  labels: [0, 2],
  rows: 2,
  classes: 3,
};

describe('addDistillationLoss', () => {
  it('matches hand computation on 2x3 logits', async () => {
    const T = 2;
    const alpha = 0.7;
    // p = softmax(teacher / 2) and q = softmax(student / 2), row by row.
    const p = [
      [0.6848007660422947, 0.1961987043646502, 0.11900052959305522],
      [0.21194155761708547, 0.5761168847658291, 0.21194155761708547],
    ];
    const q = [
      [0.5016877570904369, 0.30428900627781413, 0.1940232366317488],
      [0.320401109026613, 0.5282521236080877, 0.1513467673652992],
    ];
    // Cross-entropy at T = 1: -log softmax(student)[label] for labels 0 and 2.
    const crossEntropy = [0.4170300162778335, 2.871539031852683];

    // KL per row is a sum over classes. The mean divides the batch sums by N = 2.
    const kl = p.map((row, n) => row.reduce((sum, pc, c) => sum + pc * (Math.log(pc) - Math.log(q[n]![c]!)), 0));
    expect(kl[0]).toBeCloseTo(0.06880056317248846, 12);
    expect(kl[1]).toBeCloseTo(0.033751499076162164, 12);
    const softSum = T * T * (kl[0]! + kl[1]!);
    const hardSum = crossEntropy[0]! + crossEntropy[1]!;
    const meanLoss = (alpha * softSum + (1 - alpha) * hardSum) / 2;
    expect(softSum).toBeCloseTo(0.4102082489946025, 12);
    expect(hardSum).toBeCloseTo(3.2885690481305163, 12);
    expect(meanLoss).toBeCloseTo(0.6368582443676883, 12);

    const reference = distillationLossReference(HAND_BATCH.student, HAND_BATCH.teacher, HAND_BATCH.labels, 2, 3, T, alpha);
    expect(Math.abs(reference.loss / 2 - meanLoss)).toBeLessThan(1e-12);

    for (const dtype of ['float64', 'float32'] as const) {
      const out = await evaluate({ dtype, classes: 3, temperature: T, alpha }, HAND_BATCH);
      expect(Math.abs(out.loss / 2 - meanLoss), `${dtype} mean loss`).toBeLessThan(1e-6);
      expect(Math.abs(out.soft - softSum), `${dtype} soft`).toBeLessThan(1e-6);
      expect(Math.abs(out.hard - hardSum), `${dtype} hard`).toBeLessThan(1e-6);
    }
  });

  it('alpha 0 equals plain cross-entropy', async () => {
    const batch = randomBatch(6, 4, 3);
    const distilled = await evaluate({ dtype: 'float32', classes: 4, temperature: 3, alpha: 0 }, batch);

    const g = new Graph('cross_entropy');
    const student = g.input('student', 'float32', ['batch', 4]);
    const labels = g.input('labels', 'int64', ['batch']);
    const loss = g.op('SoftmaxCrossEntropyLoss', [student, labels], { reduction: 'sum', ignore_index: -1 });
    const [grad] = buildGradients(g, { loss, wrt: [student] });
    g.output(loss, 'loss');
    g.output(grad!, 'grad_student');
    const session = await ort.InferenceSession.create(serializeModel(g));
    const plain = await session.run({
      student: new ort.Tensor('float32', Float32Array.from(batch.student), [6, 4]),
      labels: new ort.Tensor('int64', BigInt64Array.from(batch.labels, BigInt), [6]),
    });
    await session.release();

    expect(distilled.loss).toBe(Number(plain['loss']!.data[0]));
    expect(distilled.hard).toBe(distilled.loss);
    expect(Array.from(distilled.gradStudent)).toEqual(Array.from(plain['grad_student']!.data as Float32Array));
  });

  it('alpha 1 ignores the hard term', async () => {
    const batch = randomBatch(6, 4, 4);
    const relabelled = { ...batch, labels: batch.labels.map((label) => (label + 1) % 4) };
    const options = { dtype: 'float32' as const, classes: 4, temperature: 3, alpha: 1 };
    const session = await ort.InferenceSession.create(lossGraph(options));
    const first = await runSession(session, 'float32', batch);
    const second = await runSession(session, 'float32', relabelled);
    await session.release();

    expect(first.loss).toBe(first.soft);
    expect(second.hard).not.toBe(first.hard);
    expect(second.loss).toBe(first.loss);
    expect(Array.from(second.gradStudent)).toEqual(Array.from(first.gradStudent));
  });

  it('rows labelled -1 contribute nothing', async () => {
    const full = randomBatch(5, 4, 5);
    const ignoredRows = [1, 3];
    full.labels[1] = -1;
    full.labels[3] = -1;
    // Non-finite teacher logits on padding rows must not reach the loss or the gradient.
    full.teacher.fill(Number.NaN, 1 * 4, 2 * 4);
    full.teacher.fill(Number.POSITIVE_INFINITY, 3 * 4, 4 * 4);
    const keptRows = [0, 2, 4];
    const pick = (values: number[], width: number) => keptRows.flatMap((n) => values.slice(n * width, (n + 1) * width));
    const kept: Batch = {
      student: pick(full.student, 4),
      teacher: pick(full.teacher, 4),
      labels: pick(full.labels, 1),
      rows: 3,
      classes: 4,
    };

    const options = { dtype: 'float32' as const, classes: 4, temperature: 2, alpha: 0.5 };
    const session = await ort.InferenceSession.create(lossGraph(options));
    const withPadding = await runSession(session, 'float32', full);
    const withoutPadding = await runSession(session, 'float32', kept);
    const allPadding = await runSession(session, 'float32', { ...full, labels: full.labels.map(() => -1) });
    await session.release();

    expect(Math.abs(withPadding.soft - withoutPadding.soft)).toBeLessThan(1e-6);
    expect(Math.abs(withPadding.hard - withoutPadding.hard)).toBeLessThan(1e-6);
    expect(Math.abs(withPadding.loss - withoutPadding.loss)).toBeLessThan(1e-6);
    for (const n of ignoredRows) {
      expect(Array.from(withPadding.gradStudent.slice(n * 4, (n + 1) * 4)), `gradient row ${n}`).toEqual([0, 0, 0, 0]);
    }
    const keptGradient = pick(Array.from(withPadding.gradStudent), 4);
    expect(maxAbsDifference(keptGradient, withoutPadding.gradStudent)).toBeLessThan(1e-6);
    // SoftmaxCrossEntropyLoss returns -0 in onnxruntime-node 1.30 when every label is ignored.
    expect(Math.abs(allPadding.loss)).toBe(0);
    expect(Math.abs(allPadding.soft)).toBe(0);
    expect(Math.abs(allPadding.hard)).toBe(0);
    expect(Array.from(allPadding.gradStudent).every((x) => x === 0)).toBe(true);
  });

  it('soft gradient norm stable across temperatures', async () => {
    const rows = 512;
    const classes = 10;
    const batch = randomBatch(rows, classes, 11);
    const norms: number[] = [];
    const unscaledNorms: number[] = [];
    for (const T of [2, 8]) {
      const out = await evaluate({ dtype: 'float32', classes, temperature: T, alpha: 1 }, batch);
      const reference = distillationLossReference(batch.student, batch.teacher, batch.labels, rows, classes, T, 1);
      expect(maxAbsDifference(out.gradStudent, reference.studentGradient), `gradient at T = ${T}`).toBeLessThan(1e-5);
      expect(Math.abs(out.soft - reference.soft) / reference.soft, `soft term at T = ${T}`).toBeLessThan(1e-5);
      norms.push(norm(out.gradStudent));
      unscaledNorms.push(norm(out.gradStudent) / (T * T));
    }
    // With seed 11 the norms are 9.78 (T = 2) and 9.53 (T = 8), a ratio of 1.03, and 16.4 without T^2.
    const ratio = Math.max(norms[0]!, norms[1]!) / Math.min(norms[0]!, norms[1]!);
    expect(ratio, `T = 2 to T = 8 gradient norm ratio ${ratio}`).toBeLessThan(2);
    // Without the T^2 factor the norm would fall by far more than 2x.
    const unscaledRatio = unscaledNorms[0]! / unscaledNorms[1]!;
    expect(unscaledRatio, `ratio without T^2 ${unscaledRatio}`).toBeGreaterThan(8);
  });

  it('gradient matches finite differences', async () => {
    const rows = 4;
    const classes = 5;
    const batch = randomBatch(rows, classes, 21);
    batch.labels[2] = -1;
    const result = await checkGradients({
      inputs: [
        { name: 'student', dtype: 'float64', shape: [rows, classes], graphShape: ['batch', classes], data: Float64Array.from(batch.student) },
        { name: 'teacher', dtype: 'float64', shape: [rows, classes], graphShape: ['batch', classes], data: Float64Array.from(batch.teacher), differentiate: false },
        { name: 'labels', dtype: 'int64', shape: [rows], graphShape: ['batch'], data: BigInt64Array.from(batch.labels, BigInt) },
      ],
      build: (g, [student, teacher, labels]) => {
        const { loss, soft, hard } = addDistillationLoss(g, {
          student: student!,
          teacher: teacher!,
          labels: labels!,
          temperature: 3,
          alpha: 0.4,
        });
        return [loss, soft, hard];
      },
    });
    expect(result.maxError, result.worst).toBeLessThan(1e-6);
  });

  it('teacher input gets no gradient', async () => {
    const rows = 3;
    const features = 2;
    const classes = 4;
    const g = new Graph('distill_student');
    const x = g.input('x', 'float64', ['batch', features]);
    const weight = g.input('weight', 'float64', [classes, features]);
    const teacher = g.input('teacher_logits', 'float64', ['batch', classes]);
    const labels = g.input('labels', 'int64', ['batch']);
    const student = g.op('Gemm', [x, weight], { transB: 1 }, { name: 'student_logits' });
    const { loss } = addDistillationLoss(g, { student, teacher, labels, temperature: 2, alpha: 0.5 });

    const grads = buildGradients(g, { loss, wrt: [weight] });
    expect(grads).toHaveLength(1);
    g.output(loss, 'loss');
    g.output(grads[0]!, 'grad.weight');

    const xData = [0.5, -1.0, 1.5, 0.25, -0.75, 2.0];
    const weightData = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8];
    const teacherData = [1.0, 0.0, -1.0, 2.0, 0.5, 0.5, -0.5, 0.0, -2.0, 1.0, 3.0, 0.0];
    const labelData = [3, 0, 2];
    const session = await ort.InferenceSession.create(serializeModel(g));
    expect(session.outputNames).toEqual(['loss', 'grad.weight']);
    const out = await session.run({
      x: new ort.Tensor('float64', Float64Array.from(xData), [rows, features]),
      weight: new ort.Tensor('float64', Float64Array.from(weightData), [classes, features]),
      teacher_logits: new ort.Tensor('float64', Float64Array.from(teacherData), [rows, classes]),
      labels: new ort.Tensor('int64', BigInt64Array.from(labelData, BigInt), [rows]),
    });
    await session.release();

    // Reference: logits = x W^T, and dW = dLogits^T x.
    const logits = Array.from({ length: rows * classes }, (_, i) => {
      const [n, c] = [Math.floor(i / classes), i % classes];
      return xData[n * features]! * weightData[c * features]! + xData[n * features + 1]! * weightData[c * features + 1]!;
    });
    const reference = distillationLossReference(logits, teacherData, labelData, rows, classes, 2, 0.5);
    const expectedGradient = Array.from({ length: classes * features }, (_, i) => {
      const [c, f] = [Math.floor(i / features), i % features];
      let sum = 0;
      for (let n = 0; n < rows; n++) sum += reference.studentGradient[n * classes + c]! * xData[n * features + f]!;
      return sum;
    });
    expect(Math.abs(Number(out['loss']!.data[0]) - reference.loss)).toBeLessThan(1e-12);
    expect(maxAbsDifference(out['grad.weight']!.data as Float64Array, expectedGradient)).toBeLessThan(1e-12);
  });

  it('backward skips the teacher branch', () => {
    // Names of the backward nodes of the teacher-only forward nodes, e.g. 'grad/distill_teacher_scaled/Div'.
    const teacherBranch = ['distill_teacher_counted', 'distill_teacher_scaled', 'distill_teacher_log_probs', 'distill_teacher_probs'];
    const backwardOfTeacher = (differentiateTeacher: boolean) => {
      const g = new Graph('distill_wrt');
      const student = g.input('student', 'float32', ['batch', 4]);
      const teacher = g.input('teacher', 'float32', ['batch', 4]);
      const labels = g.input('labels', 'int64', ['batch']);
      const { loss } = addDistillationLoss(g, { student, teacher, labels, temperature: 4, alpha: 0.9 });
      const forwardNodes = g.nodes.length;
      const grads = buildGradients(g, { loss, wrt: differentiateTeacher ? [student, teacher] : [student] });
      expect(grads[0]!.shape).toEqual(['batch', 4]);
      expect(grads[0]!.dtype).toBe('float32');
      return g.nodes
        .slice(forwardNodes)
        .filter((node) => teacherBranch.some((name) => node.name.startsWith(`grad/${name}/`)))
        .map((node) => node.name);
    };

    expect(backwardOfTeacher(false)).toEqual([]);
    // The same filter finds the teacher branch when the teacher is differentiated on purpose.
    expect(backwardOfTeacher(true).length).toBeGreaterThan(0);
  });
});

describe('addDistillationLoss validation', () => {
  function inputs(
    studentType: [DType, Dim[]] = ['float32', ['batch', 4]],
    teacherType: [DType, Dim[]] = ['float32', ['batch', 4]],
    labelsType: [DType, Dim[]] = ['int64', ['batch']],
  ): { g: Graph; student: Value; teacher: Value; labels: Value } {
    const g = new Graph('distill_validation');
    return {
      g,
      student: g.input('student', ...studentType),
      teacher: g.input('teacher', ...teacherType),
      labels: g.input('labels', ...labelsType),
    };
  }

  it('EXPECTED FAILURE - temperature not positive', () => {
    for (const temperature of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const { g, ...values } = inputs();
      const add = () => addDistillationLoss(g, { ...values, temperature, alpha: 0.5 });
      expect(add, `temperature ${temperature}`).toThrow(RangeError);
      expect(add, `temperature ${temperature}`).toThrow(`distillation temperature must be a finite number > 0, got ${temperature}`);
      expect(add, `temperature ${temperature}`).toThrow('set distill.temperature');
    }
  });

  it('EXPECTED FAILURE - alpha outside [0, 1]', () => {
    for (const alpha of [-0.1, 1.5, Number.NaN]) {
      const { g, ...values } = inputs();
      const add = () => addDistillationLoss(g, { ...values, temperature: 2, alpha });
      expect(add, `alpha ${alpha}`).toThrow(RangeError);
      expect(add, `alpha ${alpha}`).toThrow(`distillation alpha must be in [0, 1], got ${alpha}`);
      expect(add, `alpha ${alpha}`).toThrow('set distill.alpha');
    }
  });

  it('EXPECTED FAILURE - mismatched shapes', () => {
    const cases: { name: string; values: ReturnType<typeof inputs>; message: string }[] = [
      {
        name: 'student of rank 3',
        values: inputs(['float32', ['batch', 8, 4]], ['float32', ['batch', 8, 4]], ['int64', ['batch', 8]]),
        message: "student logits 'student' must have shape [N, C], got [batch, 8, 4]",
      },
      {
        name: 'teacher with more classes',
        values: inputs(undefined, ['float32', ['batch', 5]]),
        message: "teacher logits 'teacher' have shape [batch, 5] but student logits 'student' have [batch, 4]",
      },
      {
        name: 'teacher with another batch symbol',
        values: inputs(undefined, ['float32', ['rows', 4]]),
        message: "teacher logits 'teacher' have shape [rows, 4]",
      },
      {
        name: 'labels with an extra axis',
        values: inputs(undefined, undefined, ['int64', ['batch', 1]]),
        message: "labels 'labels' must have shape [batch] to match student logits 'student' [batch, 4], got [batch, 1]",
      },
      {
        name: 'labels of another batch size',
        values: inputs(['float32', [8, 4]], ['float32', [8, 4]], ['int64', [9]]),
        message: "labels 'labels' must have shape [8]",
      },
    ];
    for (const { name, values, message } of cases) {
      const { g, ...rest } = values;
      const add = () => addDistillationLoss(g, { ...rest, temperature: 2, alpha: 0.5 });
      expect(add, name).toThrow(ShapeError);
      expect(add, name).toThrow(message);
    }
  });

  it('EXPECTED FAILURE - mismatched dtypes', () => {
    const cases: { name: string; values: ReturnType<typeof inputs>; message: string }[] = [
      {
        name: 'int64 student',
        values: inputs(['int64', ['batch', 4]], ['int64', ['batch', 4]]),
        message: "student logits 'student' must be float32 or float64, got int64",
      },
      {
        name: 'float64 teacher for a float32 student',
        values: inputs(undefined, ['float64', ['batch', 4]]),
        message: "teacher logits 'teacher' are float64 but student logits 'student' are float32; feed the teacher logits as float32",
      },
      {
        name: 'int32 labels',
        values: inputs(undefined, undefined, ['int32', ['batch']]),
        message: "labels 'labels' must be int64, got int32",
      },
    ];
    for (const { name, values, message } of cases) {
      const { g, ...rest } = values;
      const add = () => addDistillationLoss(g, { ...rest, temperature: 2, alpha: 0.5 });
      expect(add, name).toThrow(ShapeError);
      expect(add, name).toThrow(message);
    }
  });
});

describe('distillationLossReference', () => {
  it('EXPECTED FAILURE - label out of range', () => {
    const { student, teacher } = HAND_BATCH;
    expect(() => distillationLossReference(student, teacher, [0, 3], 2, 3, 2, 0.5)).toThrow('label 1 is 3; labels must be -1 or in [0, 3)');
  });

  it('EXPECTED FAILURE - wrong lengths', () => {
    const { student, teacher } = HAND_BATCH;
    expect(() => distillationLossReference(student, teacher, [0], 2, 3, 2, 0.5)).toThrow(
      'expected 6 student and teacher logits and 2 labels for N = 2, C = 3, got 6, 6 and 1',
    );
  });
});
