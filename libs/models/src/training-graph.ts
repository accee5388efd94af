import { buildGradients } from '@ringtrain/autodiff';
import { addDistillationLoss, type HiddenLossKind } from '@ringtrain/distill';
import type { Dim, Graph, Value } from '@ringtrain/graph';
import type { ParameterSpec } from './parameters.js';

/** A dropout mask input of the training graph, which the caller fills for every step. */
export interface MaskInput {
  /** Graph input name, float32 [batch, width], with values 0 or 1 / keepProb. */
  name: string;
  /**
   * Index of the dropout site, which keys its random stream. MLP: 0 for the input features,
   * k >= 1 for the k-th hidden layer's output. GPT and encoder: the site's position in
   * `maskInputs`.
   */
  layer: number;
  /** Mask elements per sample. */
  width: number;
  keepProb: number;
}

/** A data input of the training graph. */
export interface DataInput {
  name: string;
  dtype: string;
  shape: Dim[];
}

/** The teacher-logits input of a distillation training graph. */
export interface TeacherInput {
  name: string;
  classes: number;
  rowsPerSample: number;
}

/** Settings of the distillation loss, as in the run config's `distill.*` keys. */
export interface DistillSettings {
  temperature: number;
  alpha: number;
  /** Hidden-state terms (transformer students). @defaultValue none */
  hidden?: HiddenDistillSettings;
}

/** Hidden-state distillation: student blocks matched with teacher values of one width. */
export interface HiddenDistillSettings {
  /** Each student block (its output residual stream) and the teacher value it is compared with. */
  pairs: { studentBlock: number; teacherValue: string }[];
  /** Width of the teacher values. A width other than the student's adds a learned projection. */
  teacherWidth: number;
  loss: HiddenLossKind;
  /** Weight of the summed hidden terms, added to the logit loss. */
  weight: number;
}

/** A pruning mask input: 0 or 1 per element of a weight, of the weight's shape. */
export interface WeightMaskInput {
  name: string;
  /** Name of the parameter that the mask multiplies. */
  parameter: string;
}

/** A teacher hidden-state input of a distillation training graph: float32 [rows, width]. */
export interface TeacherHiddenInput {
  name: string;
  /** Name of the value in the teacher model whose rows it receives. */
  teacherValue: string;
  width: number;
}

/** Layout of the gradient outputs of the training session. */
export type GradientLayout = 'perParameter' | 'flat';

/**
 * A forward-and-backward graph with its input and output contract. A graph built without
 * gradients (for evaluation) has the same inputs and an empty `gradients` list.
 */
export interface TrainingGraph {
  /** ONNX ModelProto, opset 17. */
  bytes: Uint8Array;
  /** Parameter specs in flat-buffer order. Each parameter is a graph input with its spec's name. */
  parameters: ParameterSpec[];
  /**
   * Samples and their targets, in this order. MLP: `input` float32 [batch, inputSize] and
   * `labels` int64 [batch]. GPT: `idx` and `targets` int64 [batch, seq]. Encoder: `idx` int64
   * [batch, seq] and `labels` int64 [batch]. A target of -1 is ignored (padding).
   */
  dataInputs: DataInput[];
  maskInputs: MaskInput[];
  /** Loss terms per sample: 1 for classifiers, seq for language models. */
  termsPerSample: number;
  /** Static batch size of the graph, or undefined where the batch is symbolic. */
  batch?: number;
  /**
   * The teacher's logits of a distillation graph: float32 [rows, classes], with rows the batch
   * times `rowsPerSample` (1 for classifiers, seq for language models).
   */
  teacherInput?: TeacherInput;
  /** Pruning masks of a graph built with weight masks, one per weight matrix. */
  weightMasks?: WeightMaskInput[];
  /** Teacher hidden states that a graph with hidden-state distillation takes, in feed order. */
  teacherHiddenInputs?: TeacherHiddenInput[];
  outputs: {
    /** Sum of the cross-entropy over every counted target, a float32 scalar. */
    lossSum: string;
    /** Number of counted targets whose argmax prediction is right, an int64 scalar. */
    correct: string;
    /**
     * Output names of the gradients of the summed loss. With layout 'perParameter',
     * gradients[i] is the gradient of parameters[i]. With 'flat', one output contains all
     * gradients in flat-buffer order.
     */
    gradients: string[];
    gradientLayout: GradientLayout;
  };
}

/**
 * Adds the outputs every classifier-style training graph has. `loss_sum` is the summed
 * cross-entropy of `logits` [N, C] against `labels` [N], with -1 ignored. With `distill` it is
 * the distillation loss against the teacher's logits instead. `extraLoss`, a summed term such
 * as the hidden-state loss, is added to it. `correct` counts the right argmax predictions, and
 * `withGradients` adds one `grad.<name>` per parameter.
 * Returns the gradient output names in parameter order.
 */
export function addLossOutputs(
  g: Graph,
  logits: Value,
  labels: Value,
  params: { inputs: readonly Value[]; specs: readonly ParameterSpec[] },
  withGradients: boolean,
  distill?: { teacher: Value } & DistillSettings,
  extraLoss?: Value,
): string[] {
  const logitLoss = distill === undefined
    ? g.op('SoftmaxCrossEntropyLoss', [logits, labels], { reduction: 'sum', ignore_index: -1 }, { name: 'loss' })
    : addDistillationLoss(g, { student: logits, teacher: distill.teacher, labels, temperature: distill.temperature, alpha: distill.alpha }).loss;
  const lossSum = extraLoss === undefined ? logitLoss : g.op('Add', [logitLoss, extraLoss], {}, { name: 'loss_total' });
  const predicted = g.op('ArgMax', [logits], { axis: 1, keepdims: 0 }, { name: 'predicted' });
  const hit = g.op('Equal', [predicted, labels], {}, { name: 'hit' });
  // ONNX data type 7 is INT64.
  const hits = g.op('Cast', [hit], { to: 7 }, { name: 'hits' });
  const correct = g.op('ReduceSum', [hits], { keepdims: 0 }, { name: 'correct_count' });
  const grads = withGradients ? buildGradients(g, { loss: lossSum, wrt: params.inputs }) : [];
  g.output(lossSum, 'loss_sum');
  g.output(correct, 'correct');
  return grads.map((grad, i) => g.output(grad, `grad.${params.specs[i]!.name}`).name);
}
