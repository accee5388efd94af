/** Distillation loss terms in float64, each a sum over the counted rows. */
export interface DistillationLossValues {
  loss: number;
  soft: number;
  hard: number;
  /** Gradient of `loss` with respect to the student logits, row-major [N, C]. */
  studentGradient: Float64Array;
}

/**
 * Computes the loss of `addDistillationLoss` in plain float64 JavaScript, for tests:
 * soft = T^2 * sum of KL(softmax(teacher / T) || softmax(student / T)), hard = summed
 * cross-entropy, loss = alpha * soft + (1 - alpha) * hard, over the rows whose label is not -1.
 * Logits are row-major [N, C].
 *
 * @throws RangeError when a length does not match N and C, or a label is neither -1 nor in [0, C)
 */
export function distillationLossReference(
  student: ArrayLike<number>,
  teacher: ArrayLike<number>,
  labels: ArrayLike<number | bigint>,
  N: number,
  C: number,
  T: number,
  alpha: number,
): DistillationLossValues {
  if (student.length !== N * C || teacher.length !== N * C || labels.length !== N) {
    throw new RangeError(
      `expected ${N * C} student and teacher logits and ${N} labels for N = ${N}, C = ${C}, got ` +
        `${student.length}, ${teacher.length} and ${labels.length}`,
    );
  }
  const studentGradient = new Float64Array(N * C);
  let soft = 0;
  let hard = 0;
  for (let n = 0; n < N; n++) {
    const label = Number(labels[n]);
    if (label === -1) continue;
    if (!Number.isInteger(label) || label < 0 || label >= C) {
      throw new RangeError(`label ${n} is ${label}; labels must be -1 or in [0, ${C})`);
    }
    const rowStudent = Array.from({ length: C }, (_, c) => student[n * C + c]!);
    const rowTeacher = Array.from({ length: C }, (_, c) => teacher[n * C + c]!);
    const logQ = logSoftmax(rowStudent.map((z) => z / T));
    const logP = logSoftmax(rowTeacher.map((z) => z / T));
    const logProbs = logSoftmax(rowStudent);

    let kl = 0;
    for (let c = 0; c < C; c++) kl += Math.exp(logP[c]!) * (logP[c]! - logQ[c]!);
    soft += T * T * kl;
    hard -= logProbs[label]!;

    // d soft_n / d z = T^2 * (q - p) / T, and d hard_n / d z = softmax(z) - onehot(label).
    for (let c = 0; c < C; c++) {
      const softGradient = T * (Math.exp(logQ[c]!) - Math.exp(logP[c]!));
      const hardGradient = Math.exp(logProbs[c]!) - (c === label ? 1 : 0);
      studentGradient[n * C + c] = alpha * softGradient + (1 - alpha) * hardGradient;
    }
  }
  return { loss: alpha * soft + (1 - alpha) * hard, soft, hard, studentGradient };
}

function logSoftmax(row: readonly number[]): number[] {
  const max = Math.max(...row);
  const logSum = Math.log(row.reduce((sum, z) => sum + Math.exp(z - max), 0));
  return row.map((z) => z - max - logSum);
}
