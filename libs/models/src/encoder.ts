import { Graph, serializeModel, tensor, type Value } from '@ringtrain/graph';
import { layoutParameters, type ParameterSpec } from './parameters.js';
import { finalNormTensors, initializerSource, inputSource } from './sources.js';
import { addLossOutputs, type DistillSettings, type TeacherInput, type TrainingGraph } from './training-graph.js';
import { blockTensors, checkDims, TransformerBuilder, transformerMaskInputs, type TransformerDims } from './transformer.js';

/**
 * Configuration of a BERT-style sequence classifier: token and position embeddings,
 * bidirectional pre-norm self-attention blocks, a final LayerNorm, the first token pooled
 * through a tanh layer, and a linear classification head. Padding tokens are masked out as
 * attention keys in every block, so the padding length does not change the logits.
 */
export interface EncoderConfig extends TransformerDims {
  vocabSize: number;
  classes: number;
  /** Dropout probability of the embeddings, attention weights and residual branches. @defaultValue 0 */
  dropout?: number;
  /** Token id of the padding. @defaultValue 0 */
  padId?: number;
}

/** Options of {@link encoderTrainingGraph}. */
export interface EncoderGraphOptions {
  /** Sequences per session run, which is the graph's static batch size. */
  batch: number;
  /** Whether the graph outputs gradients. False builds an evaluation graph. @defaultValue true */
  gradients?: boolean;
  /** Train on a teacher's soft targets: adds the input `teacher_logits`. @defaultValue none */
  distill?: DistillSettings;
}

function validate(cfg: EncoderConfig): void {
  checkDims('EncoderConfig', cfg);
  for (const key of ['vocabSize', 'classes'] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] <= 0) {
      throw new RangeError(`EncoderConfig ${key} must be a positive integer, got ${cfg[key]}`);
    }
  }
  const p = cfg.dropout ?? 0;
  if (!(p >= 0 && p < 1)) {
    throw new RangeError(`EncoderConfig dropout must be in [0, 1), got ${p}`);
  }
}

/**
 * Returns the encoder's parameters in flat-buffer order: `tok_emb`, `pos_emb`, the blocks,
 * `ln_f`, `pooler` and `classifier`. Weights are initialised N(0, 0.02), except the residual
 * projections of the blocks, which get N(0, 0.02 / sqrt(2 nLayer)). Biases start at zero and
 * LayerNorm scales at one.
 *
 * @throws RangeError on an invalid config
 */
export function encoderParameters(cfg: EncoderConfig): ParameterSpec[] {
  validate(cfg);
  const std = { kind: 'normal' as const, std: 0.02 };
  const zeros = { kind: 'zeros' as const };
  const c = cfg.nEmbd;
  const tensors = [
    { name: 'tok_emb', shape: [cfg.vocabSize, c], init: std },
    { name: 'pos_emb', shape: [cfg.blockSize, c], init: std },
    ...Array.from({ length: cfg.nLayer }, (_, l) => blockTensors(cfg, l)).flat(),
    ...finalNormTensors(c, cfg.bias !== false),
    { name: 'pooler.weight', shape: [c, c], init: std },
    { name: 'pooler.bias', shape: [c], init: zeros },
    { name: 'classifier.weight', shape: [cfg.classes, c], init: std },
    { name: 'classifier.bias', shape: [cfg.classes], init: zeros },
  ];
  return layoutParameters(cfg.bias === false ? tensors.filter((t) => !t.name.endsWith('.bias')) : tensors);
}

/** Builds the additive attention bias [batch, 1, 1, seq], -1e9 on padding keys and 0 elsewhere. */
function paddingBias(g: Graph, cfg: EncoderConfig, idx: Value): Value {
  const padId = g.constant(tensor('int64', [], [cfg.padId ?? 0]), 'pad_id');
  const pad = g.op('Equal', [idx, padId], {}, { name: 'is_pad' });
  // ONNX data type 1 is FLOAT.
  const padFloat = g.op('Cast', [pad], { to: 1 }, { name: 'pad_float' });
  const penalty = g.scalar(-1e9, 'float32', 'pad_penalty');
  const bias = g.op('Mul', [padFloat, penalty], {}, { name: 'pad_bias_flat' });
  return g.op('Unsqueeze', [bias, g.int64s([1, 2])], {}, { name: 'pad_bias' });
}

/**
 * Adds the embeddings, blocks, pooler and classification head, and returns the logits
 * [batch, classes]. `first` selects the first token's activations from the output of `ln_f`.
 */
function classify(b: TransformerBuilder, cfg: EncoderConfig, idx: Value, first: (x: Value) => Value): Value {
  const { g } = b;
  let x = b.dropout(b.embed(idx, 'tok_emb', 'pos_emb'), 'embed.dropout');
  const bias = paddingBias(g, cfg, idx);
  for (let l = 0; l < cfg.nLayer; l++) x = b.block(x, l, bias);
  const firstToken = first(b.layerNorm(x, 'ln_f'));
  const pooled = g.op('Tanh', [b.linear(firstToken, 'pooler')], {}, { name: 'pooled' });
  return b.linear(pooled, 'classifier');
}

/**
 * Builds an encoder training graph for a static batch. Its inputs are the parameters, `idx`
 * (int64 [batch, blockSize], padded with padId after the text), `labels` (int64 [batch], where
 * a label of -1 is ignored), and one dropout mask per site when dropout is on and the graph has
 * gradients. Its outputs are `loss_sum`, `correct` and, unless `gradients` is false,
 * `grad.<name>` per parameter.
 *
 * @throws RangeError on an invalid config or batch
 */
export function encoderTrainingGraph(cfg: EncoderConfig, options: EncoderGraphOptions): TrainingGraph {
  const specs = encoderParameters(cfg);
  const { batch } = options;
  if (!Number.isInteger(batch) || batch <= 0) {
    throw new RangeError(`encoder graph batch must be a positive integer, got ${batch}`);
  }
  const seq = cfg.blockSize;
  const c = cfg.nEmbd;
  const withGradients = options.gradients ?? true;
  const g = new Graph(withGradients ? 'encoder_train' : 'encoder_eval');
  const params = specs.map((spec) => g.input(spec.name, 'float32', spec.shape));
  const idx = g.input('idx', 'int64', [batch, seq]);
  const labels = g.input('labels', 'int64', [batch]);

  const dropout = withGradients ? (cfg.dropout ?? 0) : 0;
  const { masks, maskInputs } = transformerMaskInputs(g, cfg, { batch, seq, dropout });

  const b = new TransformerBuilder(g, cfg, { kind: 'rows', batch, seq }, inputSource(g, specs, params), masks);
  // Activations are rows [batch * seq, nEmbd]. Reshaped to [batch, seq * nEmbd], the first
  // token of each sequence is the first nEmbd columns.
  const first = (x: Value) => {
    const bySequence = g.op('Reshape', [x, g.int64s([batch, seq * c])], {}, { name: 'by_sequence' });
    const starts = g.int64s([0]);
    const ends = g.int64s([c]);
    const axes = g.int64s([1]);
    return g.op('Slice', [bySequence, starts, ends, axes], {}, { name: 'first_token' });
  };
  const logits = classify(b, cfg, idx, first);
  const teacherInput: TeacherInput | undefined = options.distill && { name: 'teacher_logits', classes: cfg.classes, rowsPerSample: 1 };
  const distill = teacherInput && { ...options.distill!, teacher: g.input(teacherInput.name, 'float32', [batch, teacherInput.classes]) };
  const gradients = addLossOutputs(g, logits, labels, { inputs: params, specs }, withGradients, distill);
  return {
    bytes: serializeModel(g),
    parameters: specs,
    dataInputs: [
      { name: 'idx', dtype: 'int64', shape: [batch, seq] },
      { name: 'labels', dtype: 'int64', shape: [batch] },
    ],
    maskInputs,
    termsPerSample: 1,
    ...(teacherInput === undefined ? {} : { teacherInput }),
    batch,
    outputs: { lossSum: 'loss_sum', correct: 'correct', gradients, gradientLayout: 'perParameter' },
  };
}

/**
 * Builds the inference model in opset 17, with one input `idx` (int64 [batch, seq], seq up to
 * blockSize, padded with padId), one output `logits` (float32 [batch, classes]) and the
 * parameters as initializers. `metadata` goes to metadata_props, with `blockSize`, `padId`,
 * `modelKind` and `nHead` added. Together with the tensor shapes, these entries give back the
 * config.
 *
 * @throws RangeError when `params` has the wrong length or the config is invalid
 */
export function encoderInferenceModel(
  cfg: EncoderConfig,
  params: Float32Array,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const specs = encoderParameters(cfg);
  const g = new Graph('encoder');
  const source = initializerSource(g, specs, params, 'encoder');
  const idx = g.input('idx', 'int64', ['batch', 'seq']);
  const b = new TransformerBuilder(g, cfg, { kind: 'tensor' }, source);
  const first = (x: Value) => {
    const position = g.constant(tensor('int64', [], [0]), 'first');
    return g.op('Gather', [x, position], { axis: 1 }, { name: 'first_token' });
  };
  g.output(classify(b, cfg, idx, first), 'logits');
  return serializeModel(g, {
    metadata: {
      ...metadata,
      blockSize: String(cfg.blockSize),
      padId: String(cfg.padId ?? 0),
      modelKind: 'encoder',
      nHead: String(cfg.nHead),
    },
  });
}
