import { addHiddenStateLoss } from '@ringtrain/distill';
import type { Graph, Value } from '@ringtrain/graph';
import { appendTrainingParameters, type ParameterSpec } from './parameters.js';
import type { HiddenDistillSettings, TeacherHiddenInput } from './training-graph.js';

/** Name of the training-graph input that receives the teacher's hidden state of pair `k`. */
export function hiddenInputName(k: number): string {
  return `teacher_hidden.${k}`;
}

/** Name of the learned projection of hidden-state pair `k`. */
export function projectionName(k: number): string {
  return `distill.proj${k}.weight`;
}

/**
 * Returns the training specs of a student with hidden-state distillation: the model's specs,
 * then one projection [teacherWidth, studentWidth] per pair when the widths differ, initialised
 * like nn.Linear.
 */
export function withProjections(specs: readonly ParameterSpec[], hidden: HiddenDistillSettings | undefined, studentWidth: number): ParameterSpec[] {
  if (hidden === undefined || hidden.teacherWidth === studentWidth) return [...specs];
  const init = { kind: 'uniform' as const, bound: 1 / Math.sqrt(studentWidth) };
  return appendTrainingParameters(specs, hidden.pairs.map((_, k) => ({ name: projectionName(k), shape: [hidden.teacherWidth, studentWidth], init })));
}

/**
 * Adds one teacher input `teacher_hidden.{k}` [rows, teacherWidth] per pair and the weighted sum
 * of the hidden-state terms. `states[l]` is the output of student block l in rows layout, and
 * `param` returns a parameter input by name.
 *
 * @throws RangeError when a pair names a student block that the model does not have
 */
export function addHiddenTerms(
  g: Graph,
  hidden: HiddenDistillSettings,
  states: readonly Value[],
  rowWeights: Value,
  param: (name: string) => Value,
): { inputs: TeacherHiddenInput[]; loss: Value } {
  const rows = states[0]!.shape[0]!;
  const studentWidth = states[0]!.shape[1] as number;
  const inputs: TeacherHiddenInput[] = [];
  const terms = hidden.pairs.map(({ studentBlock, teacherValue }, k) => {
    const student = states[studentBlock];
    if (student === undefined) {
      throw new RangeError(`hidden-state pair ${k} names student block ${studentBlock}, but the student has blocks 0 to ${states.length - 1}`);
    }
    const name = hiddenInputName(k);
    inputs.push({ name, teacherValue, width: hidden.teacherWidth });
    const teacher = g.input(name, 'float32', [rows, hidden.teacherWidth]);
    const projection = hidden.teacherWidth === studentWidth ? undefined : param(projectionName(k));
    return addHiddenStateLoss(g, { student, teacher, rowWeights, kind: hidden.loss, projection, name: `hidden${k}` });
  });
  const sum = terms.length === 1 ? terms[0]! : g.op('Sum', terms, {}, { name: 'hidden_terms' });
  const loss = g.op('Mul', [sum, g.scalar(hidden.weight, 'float32', 'hidden_weight')], {}, { name: 'hidden_loss' });
  return { inputs, loss };
}
