import { buildGradients } from '@ringtrain/autodiff';
import { addDistillationLoss } from '@ringtrain/distill';
import { Graph, serializeModel, tensor, type Value } from '@ringtrain/graph';
import { fakeQuantizeActivation, fakeQuantizeWeight, type FakeQuantSettings } from './fake-quant.js';
import { layoutParameters, parameterCount, type ParameterSpec } from './parameters.js';
import type { DistillSettings, GradientLayout, MaskInput, TeacherInput, TrainingGraph, WeightMaskInput } from './training-graph.js';

/** A multilayer perceptron with ReLU hidden layers and optional dropout. */
export interface MlpConfig {
  /** Features per sample, e.g. 784 for MNIST. */
  inputSize: number;
  /** Width of each hidden layer, e.g. [800, 800]. */
  hidden: number[];
  /** Number of classes (logits per sample). */
  classes: number;
  /** Drop probabilities of the input features and of the hidden units. @defaultValue none */
  dropout?: { input?: number; hidden?: number };
  /** Mean subtracted from every input feature inside the graph. @defaultValue 0.1307 (MNIST) */
  inputMean?: number;
  /** Standard deviation that divides every input feature inside the graph. @defaultValue 0.3081 (MNIST) */
  inputStd?: number;
}

/** Options of {@link mlpTrainingGraph}. */
export interface TrainingGraphOptions {
  /** @defaultValue 'perParameter' */
  gradientLayout?: GradientLayout;
  /**
   * Element type of parameters, inputs and masks. float64 exists for gradient checks.
   * @defaultValue 'float32'
   */
  dtype?: 'float32' | 'float64';
  /** Train on a teacher's soft targets: adds the input `teacher_logits` [batch, classes]. @defaultValue none */
  distill?: DistillSettings;
  /**
   * Adds one 0/1 input `prune_mask.<name>` per weight matrix, multiplied into the weight, so a
   * pruned weight neither acts nor gets a gradient. @defaultValue false
   */
  weightMasks?: boolean;
  /**
   * Fake-quantises every Gemm weight and input in the forward pass, with the arithmetic of the
   * dynamic int8 export, for quantisation-aware training. Needs dtype float32. @defaultValue none
   */
  quant?: FakeQuantSettings;
}

const DEFAULT_MEAN = 0.1307;
const DEFAULT_STD = 0.3081;

/**
 * Returns the MLP's parameters in flat-buffer order: for each layer k, `fc{k}.weight`
 * [out, in] (PyTorch's nn.Linear layout) then `fc{k}.bias` [out], initialised like
 * nn.Linear's default, U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weights and biases.
 *
 * @throws RangeError when a size is not a positive integer or a dropout rate is outside [0, 1)
 */
export function mlpParameters(cfg: MlpConfig): ParameterSpec[] {
  validate(cfg);
  const widths = [cfg.inputSize, ...cfg.hidden, cfg.classes];
  return layoutParameters(
    widths.slice(1).flatMap((out, k) => {
      const fanIn = widths[k]!;
      const init = { kind: 'uniform' as const, bound: 1 / Math.sqrt(fanIn) };
      return [
        { name: `fc${k}.weight`, shape: [out, fanIn], init },
        { name: `fc${k}.bias`, shape: [out], init },
      ];
    }),
  );
}

function validate(cfg: MlpConfig): void {
  const sizes: [string, number][] = [
    ['inputSize', cfg.inputSize],
    ['classes', cfg.classes],
    ...cfg.hidden.map((h, i): [string, number] => [`hidden[${i}]`, h]),
  ];
  for (const [key, value] of sizes) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new RangeError(`MlpConfig.${key} must be a positive integer, got ${value}`);
    }
  }
  for (const key of ['input', 'hidden'] as const) {
    const p = cfg.dropout?.[key];
    if (p !== undefined && !(p >= 0 && p < 1)) {
      throw new RangeError(`MlpConfig.dropout.${key} must be in [0, 1), got ${p}`);
    }
  }
  const std = cfg.inputStd ?? DEFAULT_STD;
  if (!(std > 0)) throw new RangeError(`MlpConfig.inputStd must be positive, got ${std}`);
}

/**
 * Builds logits [batch, classes]: normalise, then for each layer Gemm (transB) and ReLU, with a
 * mask multiplied in front of each layer where `mask` returns one. `gemmInput` maps the input
 * of layer k's Gemm, after its mask, to what the Gemm reads (fake quantisation).
 */
function mlpForward(
  g: Graph,
  cfg: MlpConfig,
  input: Value,
  param: (spec: ParameterSpec) => Value,
  specs: readonly ParameterSpec[],
  mask: (layer: number, width: number) => Value | undefined,
  gemmInput: (x: Value, layer: number) => Value = (x) => x,
): Value {
  const dtype = input.dtype;
  const mean = g.scalar(cfg.inputMean ?? DEFAULT_MEAN, dtype, 'input_mean');
  const std = g.scalar(cfg.inputStd ?? DEFAULT_STD, dtype, 'input_std');
  // Input dropout zeroes raw pixels, before normalisation, so that a dropped pixel is black as
  // in the usual form of the method, not the mean intensity.
  const inputMask = mask(0, cfg.inputSize);
  const raw = inputMask === undefined ? input : g.op('Mul', [input, inputMask], {}, { name: 'dropout0' });
  let h = g.op('Div', [g.op('Sub', [raw, mean], {}, { name: 'normalize_sub' }), std], {}, { name: 'normalize' });
  const layers = cfg.hidden.length + 1;
  const widths = [cfg.inputSize, ...cfg.hidden];
  for (let k = 0; k < layers; k++) {
    const m = k === 0 ? undefined : mask(k, widths[k]!);
    if (m !== undefined) h = g.op('Mul', [h, m], {}, { name: `dropout${k}` });
    const [weight, bias] = [param(specs[2 * k]!), param(specs[2 * k + 1]!)];
    h = g.op('Gemm', [gemmInput(h, k), weight, bias], { transB: 1 }, { name: `fc${k}` });
    if (k < layers - 1) h = g.op('Relu', [h], {}, { name: `relu${k}` });
  }
  return h;
}

/**
 * Builds the MLP's training graph. It takes parameters, data and dropout masks, and returns the
 * summed cross-entropy, the number of correct predictions and the gradients of the summed loss.
 * Dropout is a multiplication by masks that the caller makes, so training does not depend on
 * how samples are spread across ranks. Parameters are inputs, so one session serves every step.
 *
 * @throws RangeError when the config is invalid, or when fake quantisation is asked for with float64
 */
export function mlpTrainingGraph(cfg: MlpConfig, options: TrainingGraphOptions = {}): TrainingGraph {
  const dtype = options.dtype ?? 'float32';
  if (options.quant !== undefined && dtype !== 'float32') {
    throw new RangeError(`fake quantisation needs dtype float32, got ${dtype}: ONNX QuantizeLinear at opset 17 takes float32 only`);
  }
  const layout = options.gradientLayout ?? 'perParameter';
  const specs = mlpParameters(cfg);
  const g = new Graph('mlp_train');

  // Inputs: parameters in flat order, then data, then masks.
  const params = specs.map((spec) => g.input(spec.name, dtype, spec.shape));
  const input = g.input('input', dtype, ['batch', cfg.inputSize]);
  const labels = g.input('labels', 'int64', ['batch']);
  const maskInputs: MaskInput[] = [];
  const masks = new Map<number, Value>();
  const widths = [cfg.inputSize, ...cfg.hidden];
  widths.forEach((width, layer) => {
    const p = layer === 0 ? cfg.dropout?.input : cfg.dropout?.hidden;
    if (p === undefined || p === 0) return;
    const name = `mask${layer}`;
    masks.set(layer, g.input(name, dtype, ['batch', width]));
    maskInputs.push({ name, layer, width, keepProb: 1 - p });
  });

  // Forward, loss and accuracy.
  const weightMasks: WeightMaskInput[] = [];
  const { quant } = options;
  const effective = specs.map((spec, i) => {
    if (!spec.decay) return params[i]!;
    let weight = params[i]!;
    if (options.weightMasks === true) {
      const name = `prune_mask.${spec.name}`;
      weightMasks.push({ name, parameter: spec.name });
      weight = g.op('Mul', [weight, g.input(name, dtype, spec.shape)], {}, { name: `${spec.name}/pruned` });
    }
    if (quant !== undefined && quant.weights !== 'none') weight = fakeQuantizeWeight(g, weight, quant.weights === 'perChannel', spec.name);
    return weight;
  });
  const range = quant?.activations ?? 'none';
  const gemmInput = range === 'none' ? undefined : (x: Value, layer: number) => fakeQuantizeActivation(g, x, range, `fc${layer}/input`);
  const logits = mlpForward(g, cfg, input, (spec) => effective[specs.indexOf(spec)]!, specs, (layer) => masks.get(layer), gemmInput);
  const teacherInput: TeacherInput | undefined = options.distill && { name: 'teacher_logits', classes: cfg.classes, rowsPerSample: 1 };
  const lossSum = teacherInput === undefined
    ? g.op('SoftmaxCrossEntropyLoss', [logits, labels], { reduction: 'sum' }, { name: 'loss' })
    : addDistillationLoss(g, {
        student: logits,
        teacher: g.input(teacherInput.name, dtype, ['batch', cfg.classes]),
        labels,
        ...options.distill!,
      }).loss;
  const predicted = g.op('ArgMax', [logits], { axis: 1, keepdims: 0 }, { name: 'predicted' });
  const hits = g.op('Cast', [g.op('Equal', [predicted, labels], {}, { name: 'hit' })], { to: 7 }, { name: 'hits' });
  const correct = g.op('ReduceSum', [hits], { keepdims: 0 }, { name: 'correct_count' });

  // Backward.
  const grads = buildGradients(g, { loss: lossSum, wrt: params });
  g.output(lossSum, 'loss_sum');
  g.output(correct, 'correct');
  let gradientNames: string[];
  if (layout === 'flat') {
    const flat = grads.map((grad, i) => g.op('Reshape', [grad, g.int64s([specs[i]!.size])], {}, { name: `flat_${specs[i]!.name}` }));
    gradientNames = [g.output(g.op('Concat', flat, { axis: 0 }), 'gradients').name];
  } else {
    gradientNames = grads.map((grad, i) => g.output(grad, `grad.${specs[i]!.name}`).name);
  }

  return {
    bytes: serializeModel(g),
    parameters: specs,
    dataInputs: [
      { name: 'input', dtype, shape: ['batch', cfg.inputSize] },
      { name: 'labels', dtype: 'int64', shape: ['batch'] },
    ],
    maskInputs,
    termsPerSample: 1,
    ...(teacherInput === undefined ? {} : { teacherInput }),
    ...(weightMasks.length === 0 ? {} : { weightMasks }),
    outputs: { lossSum: 'loss_sum', correct: 'correct', gradients: gradientNames, gradientLayout: layout },
  };
}

/**
 * Builds the inference model: the parameters as initializers, one input `input` float32
 * [batch, inputSize] and one output `logits` [batch, classes], no dropout, opset 17.
 *
 * @param params - flat parameter buffer in the order of {@link mlpParameters}
 * @param metadata - entries for the model's metadata_props
 * @throws RangeError when `params` has the wrong length or the config is invalid
 */
export function mlpInferenceModel(
  cfg: MlpConfig,
  params: Float32Array,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const specs = mlpParameters(cfg);
  const expected = parameterCount(specs);
  if (params.length !== expected) {
    throw new RangeError(`the MLP has ${expected} parameters, got a buffer of ${params.length}`);
  }
  const g = new Graph('mlp');
  const input = g.input('input', 'float32', ['batch', cfg.inputSize]);
  const param = (spec: ParameterSpec) =>
    g.initializer(spec.name, tensor('float32', spec.shape, params.slice(spec.offset, spec.offset + spec.size)));
  g.output(mlpForward(g, cfg, input, param, specs, () => undefined), 'logits');
  return serializeModel(g, metadata === undefined ? {} : { metadata });
}
