import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { checkGradients } from '@ringtrain/autodiff';
import { Graph, serializeModel, ShapeError } from '@ringtrain/graph';
import { Philox } from '@ringtrain/random';
import { addHiddenStateLoss, type HiddenLossKind } from './hidden-state-loss.js';

function normals(n: number, seed: number): Float64Array {
  const rng = new Philox(seed, 3);
  return Float64Array.from({ length: n }, (_, i) => rng.normal(i));
}

/** Computes the loss with plain loops in float64, as the reference. */
function reference(kind: HiddenLossKind, s: Float64Array, t: Float64Array, w: Float64Array, rows: number, width: number): number {
  let sum = 0;
  for (let n = 0; n < rows; n++) {
    if (w[n] === 0) continue;
    const a = s.subarray(n * width, (n + 1) * width);
    const b = t.subarray(n * width, (n + 1) * width);
    let term: number;
    if (kind === 'mse') {
      term = a.reduce((acc, v, c) => acc + (v - b[c]!) ** 2, 0) / width;
    } else {
      const dot = a.reduce((acc, v, c) => acc + v * b[c]!, 0);
      const na = Math.hypot(...a);
      const nb = Math.hypot(...b);
      term = 1 - dot / (na * nb + 1e-8);
    }
    sum += w[n]! * term;
  }
  return sum;
}

async function evaluate(kind: HiddenLossKind, s: Float64Array, t: Float64Array, w: Float64Array, rows: number, width: number): Promise<number> {
  const g = new Graph('hidden_loss');
  const student = g.input('student', 'float64', ['rows', width]);
  const teacher = g.input('teacher', 'float64', ['rows', width]);
  const rowWeights = g.input('weights', 'float64', ['rows']);
  g.output(addHiddenStateLoss(g, { student, teacher, rowWeights, kind }), 'loss');
  const session = await ort.InferenceSession.create(serializeModel(g));
  const out = await session.run({
    student: new ort.Tensor('float64', s, [rows, width]),
    teacher: new ort.Tensor('float64', t, [rows, width]),
    weights: new ort.Tensor('float64', w, [rows]),
  });
  return Number(out['loss']!.data[0]);
}

describe('addHiddenStateLoss', () => {
  const rows = 5;
  const width = 6;
  const s = normals(rows * width, 1);
  const t = normals(rows * width, 2);
  const w = Float64Array.from([1, 1, 0, 1, 1]);

  for (const kind of ['mse', 'cosine'] as const) {
    it(`${kind} against a hand computation`, async () => {
      const got = await evaluate(kind, s, t, w, rows, width);
      expect(Math.abs(got - reference(kind, s, t, w, rows, width))).toBeLessThan(1e-12);
      // NaN teacher values on the padding row change nothing.
      const poisoned = t.slice();
      poisoned.fill(Number.NaN, 2 * width, 3 * width);
      expect(await evaluate(kind, s, poisoned, w, rows, width)).toBe(got);
    });
  }

  it('zero for equal or parallel states', async () => {
    expect(await evaluate('mse', s, s, w, rows, width)).toBe(0);
    const scaled = s.map((v) => 3 * v);
    // The 1e-8 in the denominator leaves about 1e-9 per row.
    expect(Math.abs(await evaluate('cosine', s, scaled, w, rows, width))).toBeLessThan(1e-7);
  });

  for (const kind of ['mse', 'cosine'] as const) {
    it(`${kind} gradient through a projection`, async () => {
      const [studentWidth, teacherWidth] = [4, 3];
      const result = await checkGradients({
        inputs: [
          { name: 'student', dtype: 'float64', shape: [rows, studentWidth], data: normals(rows * studentWidth, 5) },
          { name: 'projection', dtype: 'float64', shape: [teacherWidth, studentWidth], data: normals(teacherWidth * studentWidth, 6) },
          { name: 'teacher', dtype: 'float64', shape: [rows, teacherWidth], data: normals(rows * teacherWidth, 7), differentiate: false },
          { name: 'weights', dtype: 'float64', shape: [rows], data: w, differentiate: false },
        ],
        build: (g, [student, projection, teacher, rowWeights]) => [
          addHiddenStateLoss(g, { student: student!, projection: projection!, teacher: teacher!, rowWeights: rowWeights!, kind }),
        ],
      });
      expect(result.maxError, result.worst).toBeLessThan(1e-6);
    });
  }

  it('EXPECTED FAILURE - mismatched widths', () => {
    const g = new Graph('bad');
    const student = g.input('student', 'float32', ['rows', 4]);
    const teacher = g.input('teacher', 'float32', ['rows', 8]);
    const rowWeights = g.input('weights', 'float32', ['rows']);
    expect(() => addHiddenStateLoss(g, { student, teacher, rowWeights, kind: 'mse' })).toThrow(ShapeError);
    expect(() => addHiddenStateLoss(g, { student, teacher, rowWeights, kind: 'mse' })).toThrow(/differ in width; pass a projection \[8, 4\]/);
    const projection = g.input('projection', 'float32', [4, 8]);
    expect(() => addHiddenStateLoss(g, { student, teacher, rowWeights, kind: 'mse', projection })).toThrow(/must be \[8, 4\]/);
  });
});
