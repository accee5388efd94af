import { formatShape, ShapeError, type Graph, type Value } from '@ringtrain/graph';

/** Comparison of a student hidden state with the teacher's. */
export type HiddenLossKind = 'mse' | 'cosine';

/** Inputs and settings of {@link addHiddenStateLoss}. */
export interface HiddenStateLossOptions {
  /** Student hidden states [N, Cs], one row per position. */
  student: Value;
  /** Teacher hidden states [N, Ct] of the student's dtype, normally a graph input. */
  teacher: Value;
  /** 1 for each counted row and 0 for padding, [N] of the student's dtype. */
  rowWeights: Value;
  kind: HiddenLossKind;
  /**
   * Learned projection [Ct, Cs] that maps student rows into the teacher's width, applied as
   * student x projection^T. Required when Cs differs from Ct; optional otherwise.
   */
  projection?: Value;
  /** Prefix of the node names. @defaultValue 'hidden' */
  name?: string;
}

/**
 * Adds a hidden-state distillation term to `g` and returns its sum over counted rows, a scalar.
 * With s_n the student row n (projected when a projection is given) and t_n the teacher row:
 *
 *   mse:    (1 / Ct) * sum_c (s_nc - t_nc)^2, the mean squared error per position
 *   cosine: 1 - s_n . t_n / (|s_n| |t_n| + 1e-8), the cosine embedding loss
 *
 * The sum, like the logit loss, lets ranks and micro-batches add their parts. Rows of weight 0
 * add nothing, and a Where keeps non-finite teacher values on padding rows out of the result.
 *
 * @throws ShapeError when shapes or dtypes do not fit, or a projection is needed and missing
 */
export function addHiddenStateLoss(g: Graph, options: HiddenStateLossOptions): Value {
  const { student, teacher, rowWeights, kind, projection } = options;
  const prefix = options.name ?? 'hidden';
  const dtype = student.dtype;
  checkShapes(options);
  const zero = g.scalar(0, dtype, `${prefix}_zero`);
  const counted = g.op('Greater', [rowWeights, zero], {}, { name: `${prefix}_counted` });
  const countedColumn = g.op('Unsqueeze', [counted, g.int64s([1], `${prefix}_axis`)], {}, { name: `${prefix}_counted_column` });
  const target = g.op('Where', [countedColumn, teacher, zero], {}, { name: `${prefix}_teacher_counted` });
  const mapped = projection === undefined
    ? student
    : g.op('Gemm', [student, projection], { transB: 1 }, { name: `${prefix}_projection` });
  let perRow: Value;
  if (kind === 'mse') {
    const diff = g.op('Sub', [mapped, target], {}, { name: `${prefix}_diff` });
    const squared = g.op('Mul', [diff, diff], {}, { name: `${prefix}_squared` });
    // ReduceMean takes its axes as an attribute up to opset 17.
    perRow = g.op('ReduceMean', [squared], { axes: [1], keepdims: 0 }, { name: `${prefix}_mse_rows` });
  } else {
    // Only the cosine's sums take their axes as an input, so only it adds the constant.
    const axis = g.int64s([1], `${prefix}_feature_axis`);
    const dot = g.op('ReduceSum', [g.op('Mul', [mapped, target], {}, { name: `${prefix}_products` }), axis], { keepdims: 0 }, { name: `${prefix}_dot` });
    const norm = (v: Value, side: string) =>
      g.op('Sqrt', [g.op('ReduceSum', [g.op('Mul', [v, v], {}, { name: `${prefix}_${side}_sq` }), axis], { keepdims: 0 }, { name: `${prefix}_${side}_sq_sum` })], {}, { name: `${prefix}_${side}_norm` });
    const denominator = g.op('Add', [g.op('Mul', [norm(mapped, 'student'), norm(target, 'teacher')], {}, { name: `${prefix}_norms` }), g.scalar(1e-8, dtype, `${prefix}_eps`)], {}, { name: `${prefix}_denominator` });
    const cosine = g.op('Div', [dot, denominator], {}, { name: `${prefix}_cosine` });
    perRow = g.op('Sub', [g.scalar(1, dtype, `${prefix}_one`), cosine], {}, { name: `${prefix}_cosine_rows` });
  }
  const weighted = g.op('Mul', [perRow, rowWeights], {}, { name: `${prefix}_weighted` });
  return g.op('ReduceSum', [weighted], { keepdims: 0 }, { name: `${prefix}_sum` });
}

function checkShapes(options: HiddenStateLossOptions): void {
  const { student, teacher, rowWeights, projection } = options;
  const describe = (v: Value) => `'${v.name}' ${v.dtype} ${formatShape(v.shape)}`;
  if (student.shape.length !== 2 || teacher.shape.length !== 2) {
    throw new ShapeError(`hidden states must be [rows, width]; got student ${describe(student)} and teacher ${describe(teacher)}`);
  }
  if (teacher.dtype !== student.dtype || rowWeights.dtype !== student.dtype) {
    throw new ShapeError(`hidden-state inputs must share the student's dtype; got ${describe(student)}, ${describe(teacher)}, ${describe(rowWeights)}`);
  }
  const [studentWidth, teacherWidth] = [student.shape[1], teacher.shape[1]];
  if (projection === undefined) {
    if (studentWidth !== teacherWidth) {
      throw new ShapeError(`student ${describe(student)} and teacher ${describe(teacher)} differ in width; pass a projection [${String(teacherWidth)}, ${String(studentWidth)}]`);
    }
    return;
  }
  if (projection.shape.length !== 2 || projection.shape[0] !== teacherWidth || projection.shape[1] !== studentWidth) {
    throw new ShapeError(`projection ${describe(projection)} must be [${String(teacherWidth)}, ${String(studentWidth)}] to map the student into the teacher's width`);
  }
}
