import { formatShape, ShapeError, type Graph, type Value } from '@ringtrain/graph';

/** Inputs and settings of {@link addDistillationLoss}. */
export interface DistillationLossOptions {
  /** Student logits [N, C], float32 or float64, usually computed by the graph. */
  student: Value;
  /**
   * Teacher logits [N, C] of the student's dtype, normally a graph input fed every step. The
   * teacher is data: it gets a gradient only when the caller passes it (or a value it depends
   * on) in `wrt` of `buildGradients`.
   */
  teacher: Value;
  /** Class ids int64 [N]. A label of -1 marks a row that is not counted (padding). */
  labels: Value;
  /** Softmax temperature T of the soft term, a finite number > 0 (e.g. 2 to 8). */
  temperature: number;
  /** Weight of the soft term, in [0, 1]. The hard term gets weight 1 - alpha. */
  alpha: number;
  /** Prefix of the node names. @defaultValue 'distill' */
  name?: string;
}

/** Scalar values that {@link addDistillationLoss} adds, each a sum over the counted rows. */
export interface DistillationLoss {
  /** alpha * soft + (1 - alpha) * hard. */
  loss: Value;
  /** T^2 times the summed KL(softmax(teacher / T) || softmax(student / T)). */
  soft: Value;
  /** Summed cross-entropy of the student logits against the labels. */
  hard: Value;
}

/**
 * Adds the knowledge-distillation loss of Hinton, Vinyals and Dean, "Distilling the Knowledge in
 * a Neural Network" (2015), to `g`. For each counted row n (label not -1):
 *
 *   soft_n = T^2 * sum_c p_nc * (log p_nc - log q_nc), with p = softmax(teacher / T) and
 *     q = softmax(student / T) over the class axis
 *   hard_n = -log softmax(student)_n,label_n
 *
 * `soft` and `hard` are the sums of soft_n and hard_n over the counted rows, and
 * loss = alpha * soft + (1 - alpha) * hard. All three are sums, not means, so ranks and
 * micro-batches combine by adding them. The training loop divides the summed loss (and its
 * gradients) by the global number of counted rows. Without the T^2 factor the soft term's
 * gradients shrink about as 1/T^2 (16x from T = 2 to T = 8 in this library's spec), so the factor
 * keeps their size about the same as T changes.
 *
 * Every op used has a gradient rule in libs/autodiff. A term whose weight is 0 is still
 * returned but left out of `loss`, so it adds nothing to the gradient, not even a NaN.
 *
 * @throws RangeError when the temperature or alpha is out of range
 * @throws ShapeError when the shapes or dtypes of the inputs do not match
 */
export function addDistillationLoss(g: Graph, options: DistillationLossOptions): DistillationLoss {
  validateOptions(options);
  const { student, teacher, labels, temperature, alpha } = options;
  const prefix = options.name ?? 'distill';
  const dtype = student.dtype;

  // Rows whose label is -1 are not counted.
  const ignored = g.op('Equal', [labels, g.scalar(-1, 'int64', `${prefix}_ignore_index`)], {}, { name: `${prefix}_ignored` });
  const counted = g.op('Not', [ignored], {}, { name: `${prefix}_counted` });

  // Soft term: KL per row from log-softmax at temperature T. Where (not a multiplication) zeroes
  // the teacher logits and the KL of ignored rows, so that non-finite teacher logits on padding
  // rows reach neither the loss nor the gradient.
  const t = g.scalar(temperature, dtype, `${prefix}_temperature`);
  const zero = g.scalar(0, dtype, `${prefix}_zero`);
  const countedColumn = g.op('Unsqueeze', [counted, g.int64s([1], `${prefix}_unsqueeze_axis`)], {}, { name: `${prefix}_counted_column` });
  const teacherCounted = g.op('Where', [countedColumn, teacher, zero], {}, { name: `${prefix}_teacher_counted` });
  const teacherScaled = g.op('Div', [teacherCounted, t], {}, { name: `${prefix}_teacher_scaled` });
  const studentScaled = g.op('Div', [student, t], {}, { name: `${prefix}_student_scaled` });
  const teacherLogProbs = g.op('LogSoftmax', [teacherScaled], { axis: 1 }, { name: `${prefix}_teacher_log_probs` });
  const teacherProbs = g.op('Softmax', [teacherScaled], { axis: 1 }, { name: `${prefix}_teacher_probs` });
  const studentLogProbs = g.op('LogSoftmax', [studentScaled], { axis: 1 }, { name: `${prefix}_student_log_probs` });
  const logRatio = g.op('Sub', [teacherLogProbs, studentLogProbs], {}, { name: `${prefix}_log_ratio` });
  const klTerms = g.op('Mul', [teacherProbs, logRatio], {}, { name: `${prefix}_kl_terms` });
  const klRows = g.op('ReduceSum', [klTerms, g.int64s([1], `${prefix}_class_axis`)], { keepdims: 0 }, { name: `${prefix}_kl_rows` });
  const klCounted = g.op('Where', [counted, klRows, zero], {}, { name: `${prefix}_kl_counted` });
  const klSum = g.op('ReduceSum', [klCounted], { keepdims: 0 }, { name: `${prefix}_kl_sum` });
  const tSquared = g.scalar(temperature * temperature, dtype, `${prefix}_temperature_squared`);
  const soft = g.op('Mul', [klSum, tSquared], {}, { name: `${prefix}_soft` });

  // Hard term: the same op as the plain classifier loss, so alpha = 0 reproduces it exactly.
  const hard = g.op('SoftmaxCrossEntropyLoss', [student, labels], { reduction: 'sum', ignore_index: -1 }, {
    name: `${prefix}_hard`,
  });

  const weighted: Value[] = [];
  if (alpha > 0) {
    weighted.push(alpha === 1 ? soft : g.op('Mul', [soft, g.scalar(alpha, dtype, `${prefix}_alpha`)], {}, { name: `${prefix}_soft_weighted` }));
  }
  if (alpha < 1) {
    const hardWeight = 1 - alpha;
    weighted.push(alpha === 0 ? hard : g.op('Mul', [hard, g.scalar(hardWeight, dtype, `${prefix}_hard_weight`)], {}, { name: `${prefix}_hard_weighted` }));
  }
  const loss = weighted.length === 1
    ? g.op('Identity', weighted, {}, { name: `${prefix}_loss` })
    : g.op('Add', weighted, {}, { name: `${prefix}_loss` });
  return { loss, soft, hard };
}

function validateOptions(options: DistillationLossOptions): void {
  const { student, teacher, labels, temperature, alpha } = options;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    throw new RangeError(
      `distillation temperature must be a finite number > 0, got ${temperature}; ` +
        `set distill.temperature to a positive value such as 2 or 4`,
    );
  }
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) {
    throw new RangeError(
      `distillation alpha must be in [0, 1], got ${alpha}; set distill.alpha to the weight of ` +
        `the soft term (0 is plain cross-entropy, 1 is the soft term alone)`,
    );
  }

  if (student.dtype !== 'float32' && student.dtype !== 'float64') {
    throw new ShapeError(
      `student logits '${student.name}' must be float32 or float64, got ${student.dtype}; ` +
        `cast them with a Cast node first`,
    );
  }
  if (student.shape.length !== 2) {
    throw new ShapeError(
      `student logits '${student.name}' must have shape [N, C], got ${formatShape(student.shape)}; ` +
        `reshape them to [rows, classes] first (a language model flattens batch and sequence)`,
    );
  }
  if (teacher.dtype !== student.dtype) {
    throw new ShapeError(
      `teacher logits '${teacher.name}' are ${teacher.dtype} but student logits ` +
        `'${student.name}' are ${student.dtype}; feed the teacher logits as ${student.dtype}`,
    );
  }
  const sameDims = teacher.shape.length === 2 && teacher.shape.every((dim, i) => dim === student.shape[i]);
  if (!sameDims) {
    throw new ShapeError(
      `teacher logits '${teacher.name}' have shape ${formatShape(teacher.shape)} but student ` +
        `logits '${student.name}' have ${formatShape(student.shape)}; the teacher input needs the ` +
        `student's shape, with the same batch symbol and the same number of classes`,
    );
  }
  if (labels.dtype !== 'int64') {
    throw new ShapeError(
      `labels '${labels.name}' must be int64, got ${labels.dtype}; declare the labels input as int64`,
    );
  }
  if (labels.shape.length !== 1 || labels.shape[0] !== student.shape[0]) {
    throw new ShapeError(
      `labels '${labels.name}' must have shape [${student.shape[0]}] to match student logits ` +
        `'${student.name}' ${formatShape(student.shape)}, got ${formatShape(labels.shape)}`,
    );
  }
}
