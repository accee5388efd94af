import { buildGradients } from '@ringtrain/autodiff';
import { Graph, serializeModel, tensor, type Value } from '@ringtrain/graph';
import { layoutParameters, type ParameterSpec } from './parameters.js';
import { finalNormTensors, initializerSource, inputSource } from './sources.js';
import type { MaskInput, TrainingGraph } from './training-graph.js';
import { blockTensors, checkDims, TransformerBuilder, type TransformerDims } from './transformer.js';

/**
 * A BERT-style sequence classifier: token and position embeddings, bidirectional pre-norm
 * self-attention blocks, a final LayerNorm, the first token pooled through a tanh layer, and a
 * linear classification head. Padding tokens are masked out of every attention, so padded
 * positions change nothing.
 */
export interface EncoderConfig extends TransformerDims {
  vocabSize: number;
  classes: number;
  /** Drop probability of the embeddings, attention weights and residual branches. @defaultValue 0 */
  dropout?: number;
  /** Token id of padding. @defaultValue 0 */
  padId?: number;
}

/** Options of {@link encoderTrainingGraph}. */
export interface EncoderGraphOptions {
  /** Sequences per run; the graph's batch is static. */
  batch: number;
  /** Whether to emit gradients; false builds an evaluation graph. @defaultValue true */
  gradients?: boolean;
}

function validate(cfg: EncoderConfig): void {
  checkDims('EncoderConfig', cfg);
  for (const key of ['vocabSize', 'classes'] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] <= 0) throw new RangeError(`EncoderConfig ${key} must be a positive integer, got ${cfg[key]}`);
  }
  const p = cfg.dropout ?? 0;
  if (!(p >= 0 && p < 1)) throw new RangeError(`EncoderConfig dropout must be in [0, 1), got ${p}`);
}

/**
 * Returns the encoder's parameters in flat-buffer order: `tok_emb`, `pos_emb`, the blocks,
 * `ln_f`, `pooler` and `classifier`, initialised N(0, 0.02) with zero biases.
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

/** Additive attention bias [batch, 1, 1, seq]: -1e9 on padding keys, 0 elsewhere. */
function paddingBias(g: Graph, cfg: EncoderConfig, idx: Value): Value {
  const pad = g.op('Equal', [idx, g.constant(tensor('int64', [], [cfg.padId ?? 0]), 'pad_id')], {}, { name: 'is_pad' });
  const bias = g.op('Mul', [g.op('Cast', [pad], { to: 1 }, { name: 'pad_float' }), g.scalar(-1e9, 'float32', 'pad_penalty')], {}, { name: 'pad_bias_flat' });
  return g.op('Unsqueeze', [bias, g.int64s([1, 2])], {}, { name: 'pad_bias' });
}

/** Runs the blocks and returns logits [batch, classes]; `first` picks the first token's row. */
function classify(b: TransformerBuilder, cfg: EncoderConfig, idx: Value, first: (x: Value) => Value): Value {
  const { g } = b;
  let x = b.dropout(b.embed(idx, 'tok_emb', 'pos_emb'), 'embed.dropout');
  const bias = paddingBias(g, cfg, idx);
  for (let l = 0; l < cfg.nLayer; l++) x = b.block(x, l, bias);
  const pooled = g.op('Tanh', [b.linear(first(b.layerNorm(x, 'ln_f')), 'pooler')], {}, { name: 'pooled' });
  return b.linear(pooled, 'classifier');
}

/**
 * Builds an encoder training graph for a static batch. Inputs: the parameters, `idx` (int64
 * [batch, blockSize], padded with padId after the text) and `labels` (int64 [batch]; -1 is
 * ignored), and dropout masks when dropout is on. Outputs: `loss_sum`, `correct` and, unless
 * `gradients` is false, `grad.<name>` per parameter.
 */
export function encoderTrainingGraph(cfg: EncoderConfig, options: EncoderGraphOptions): TrainingGraph {
  const specs = encoderParameters(cfg);
  const { batch } = options;
  if (!Number.isInteger(batch) || batch <= 0) throw new RangeError(`encoder graph batch must be a positive integer, got ${batch}`);
  const seq = cfg.blockSize;
  const c = cfg.nEmbd;
  const withGradients = options.gradients ?? true;
  const g = new Graph(withGradients ? 'encoder_train' : 'encoder_eval');
  const params = specs.map((spec) => g.input(spec.name, 'float32', spec.shape));
  const idx = g.input('idx', 'int64', [batch, seq]);
  const labels = g.input('labels', 'int64', [batch]);

  const maskInputs: MaskInput[] = [];
  const masks = new Map<string, Value>();
  const p = cfg.dropout ?? 0;
  if (withGradients && p > 0) {
    const sites = [{ name: 'embed.dropout', width: seq * c }, ...TransformerBuilder.blockSites(cfg, seq)];
    sites.forEach((site, layer) => {
      masks.set(site.name, g.input(site.name, 'float32', [batch, site.width]));
      maskInputs.push({ name: site.name, layer, width: site.width, keepProb: 1 - p });
    });
  }

  const b = new TransformerBuilder(g, cfg, { kind: 'rows', batch, seq }, inputSource(g, specs, params), masks);
  // Rows are [batch * seq, nEmbd]: the first token of each sequence is the first nEmbd columns of [batch, seq * nEmbd].
  const first = (x: Value) =>
    g.op('Slice', [g.op('Reshape', [x, g.int64s([batch, seq * c])], {}, { name: 'by_sequence' }), g.int64s([0]), g.int64s([c]), g.int64s([1])], {}, { name: 'first_token' });
  const logits = classify(b, cfg, idx, first);
  const lossSum = g.op('SoftmaxCrossEntropyLoss', [logits, labels], { reduction: 'sum', ignore_index: -1 }, { name: 'loss' });
  const predicted = g.op('ArgMax', [logits], { axis: 1, keepdims: 0 }, { name: 'predicted' });
  const hits = g.op('Cast', [g.op('Equal', [predicted, labels], {}, { name: 'hit' })], { to: 7 }, { name: 'hits' });
  const correct = g.op('ReduceSum', [hits], { keepdims: 0 }, { name: 'correct_count' });

  const grads = withGradients ? buildGradients(g, { loss: lossSum, wrt: params }) : [];
  g.output(lossSum, 'loss_sum');
  g.output(correct, 'correct');
  const gradients = grads.map((grad, i) => g.output(grad, `grad.${specs[i]!.name}`).name);
  return {
    bytes: serializeModel(g),
    parameters: specs,
    dataInputs: [
      { name: 'idx', dtype: 'int64', shape: [batch, seq] },
      { name: 'labels', dtype: 'int64', shape: [batch] },
    ],
    maskInputs,
    termsPerSample: 1,
    batch,
    outputs: { lossSum: 'loss_sum', correct: 'correct', gradients, gradientLayout: 'perParameter' },
  };
}

/**
 * Builds the inference model: one input `idx` (int64 [batch, seq], seq up to blockSize, padded
 * with padId), one output `logits` (float32 [batch, classes]), opset 17. `metadata` goes to
 * metadata_props, with `blockSize` and `padId` added.
 *
 * @throws RangeError when `params` has the wrong length or the config is invalid
 */
export function encoderInferenceModel(cfg: EncoderConfig, params: Float32Array, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const specs = encoderParameters(cfg);
  const g = new Graph('encoder');
  const source = initializerSource(g, specs, params, 'encoder');
  const idx = g.input('idx', 'int64', ['batch', 'seq']);
  const b = new TransformerBuilder(g, cfg, { kind: 'tensor' }, source);
  const first = (x: Value) => g.op('Gather', [x, g.constant(tensor('int64', [], [0]), 'first')], { axis: 1 }, { name: 'first_token' });
  g.output(classify(b, cfg, idx, first), 'logits');
  return serializeModel(g, {
    metadata: { ...metadata, blockSize: String(cfg.blockSize), padId: String(cfg.padId ?? 0), modelKind: 'encoder' },
  });
}
