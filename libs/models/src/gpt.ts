import { Graph, serializeModel, type Value } from '@ringtrain/graph';
import { addHiddenTerms, withProjections } from './hidden-distill.js';
import { layoutParameters, type ParameterSpec } from './parameters.js';
import { finalNormTensors, initializerSource, inputSource } from './sources.js';
import { addLossOutputs, type DistillSettings, type TeacherInput, type TrainingGraph } from './training-graph.js';
import { blockTensors, checkDims, TransformerBuilder, transformerMaskInputs, type TransformerDims } from './transformer.js';

/**
 * Configuration of a GPT language model: token and position embeddings, pre-norm blocks with causal multi-head
 * self-attention and a GELU MLP, a final LayerNorm and an output head, by default tied to the
 * token embedding (one tensor, used twice).
 */
export interface GptConfig extends TransformerDims {
  vocabSize: number;
  /** Dropout probability of the embeddings, attention weights and residual branches. @defaultValue 0 */
  dropout?: number;
  /** Whether the output head reuses the token embedding. @defaultValue true */
  tieEmbeddings?: boolean;
}

/** Options of {@link gptTrainingGraph}. */
export interface GptGraphOptions {
  /** Sequences per session run, which is the graph's static batch size. */
  batch: number;
  /** Sequence length. @defaultValue blockSize */
  seq?: number;
  /** Whether the graph outputs gradients. False builds an evaluation graph. @defaultValue true */
  gradients?: boolean;
  /** Train on a teacher's soft targets: adds the input `teacher_logits`. @defaultValue none */
  distill?: DistillSettings;
}

function validate(cfg: GptConfig): void {
  checkDims('GptConfig', cfg);
  if (!Number.isInteger(cfg.vocabSize) || cfg.vocabSize <= 0) {
    throw new RangeError(`GptConfig vocabSize must be a positive integer, got ${cfg.vocabSize}`);
  }
  const p = cfg.dropout ?? 0;
  if (!(p >= 0 && p < 1)) {
    throw new RangeError(`GptConfig dropout must be in [0, 1), got ${p}`);
  }
}

/**
 * Returns the GPT's parameters in flat-buffer order: `wte` [vocab, nEmbd], `wpe` [blockSize,
 * nEmbd], the blocks `h{l}.*`, `ln_f.*`, and `lm_head.weight` [vocab, nEmbd] only when the
 * head is untied. The init is GPT-2's: weights N(0, 0.02), residual projections N(0, 0.02 /
 * sqrt(2 nLayer)), zero biases and unit LayerNorm scales.
 *
 * @throws RangeError on an invalid config
 */
export function gptParameters(cfg: GptConfig): ParameterSpec[] {
  validate(cfg);
  const std = { kind: 'normal' as const, std: 0.02 };
  const tensors = [
    { name: 'wte', shape: [cfg.vocabSize, cfg.nEmbd], init: std },
    { name: 'wpe', shape: [cfg.blockSize, cfg.nEmbd], init: std },
    ...Array.from({ length: cfg.nLayer }, (_, l) => blockTensors(cfg, l)).flat(),
    ...finalNormTensors(cfg.nEmbd, cfg.bias !== false),
  ];
  if (cfg.tieEmbeddings === false) {
    tensors.push({ name: 'lm_head.weight', shape: [cfg.vocabSize, cfg.nEmbd], init: std });
  }
  return layoutParameters(tensors);
}

/** Returns the name of the output head's weight, which is the token embedding `wte` when tied. */
function headName(cfg: GptConfig): string {
  return cfg.tieEmbeddings === false ? 'lm_head.weight' : 'wte';
}

/**
 * Builds a GPT training graph for a static batch. Its inputs are the parameters, `idx` and
 * `targets` (int64 [batch, seq], where a target of -1 is ignored), and one dropout mask per
 * site when dropout is on and the graph has gradients. Its outputs are `loss_sum` (the
 * cross-entropy summed over counted targets), `correct` and, unless `gradients` is false,
 * `grad.<name>` per parameter. A tied embedding is one input with one gradient, the sum over
 * both of its uses.
 *
 * @throws RangeError on an invalid config, batch or sequence length
 */
export function gptTrainingGraph(cfg: GptConfig, options: GptGraphOptions): TrainingGraph {
  const hidden = options.distill?.hidden;
  const specs = withProjections(gptParameters(cfg), hidden, cfg.nEmbd);
  const seq = options.seq ?? cfg.blockSize;
  const { batch } = options;
  if (!Number.isInteger(batch) || batch <= 0) {
    throw new RangeError(`GPT graph batch must be a positive integer, got ${batch}`);
  }
  if (!Number.isInteger(seq) || seq <= 0 || seq > cfg.blockSize) {
    throw new RangeError(`GPT graph seq must be an integer in [1, blockSize ${cfg.blockSize}], got ${seq}`);
  }
  const withGradients = options.gradients ?? true;
  const g = new Graph(withGradients ? 'gpt_train' : 'gpt_eval');
  const params = specs.map((spec) => g.input(spec.name, 'float32', spec.shape));
  const idx = g.input('idx', 'int64', [batch, seq]);
  const targets = g.input('targets', 'int64', [batch, seq]);

  const dropout = withGradients ? (cfg.dropout ?? 0) : 0;
  const { masks, maskInputs } = transformerMaskInputs(g, cfg, { batch, seq, dropout });

  const b = new TransformerBuilder(g, cfg, { kind: 'rows', batch, seq }, inputSource(g, specs, params), masks);
  let x = b.dropout(b.embed(idx, 'wte', 'wpe'), 'embed.dropout');
  const causal = b.causalBias(idx);
  const states: Value[] = [];
  for (let l = 0; l < cfg.nLayer; l++) states.push((x = b.block(x, l, causal)));
  const h = b.layerNorm(x, 'ln_f');
  const logits = g.op('Gemm', [h, b.params.get(headName(cfg))], { transB: 1 }, { name: 'lm_head' });
  const flatTargets = g.op('Reshape', [targets, g.int64s([batch * seq])], {}, { name: 'targets_flat' });
  const teacherInput: TeacherInput | undefined = options.distill && { name: 'teacher_logits', classes: cfg.vocabSize, rowsPerSample: seq };
  const distill = teacherInput && { ...options.distill!, teacher: g.input(teacherInput.name, 'float32', [batch * seq, teacherInput.classes]) };
  const hiddenTerms = hidden && addHiddenTerms(g, hidden, states, countedRows(g, flatTargets), (name) => b.params.get(name));
  const gradients = addLossOutputs(g, logits, flatTargets, { inputs: params, specs }, withGradients, distill, hiddenTerms?.loss);
  return {
    bytes: serializeModel(g),
    parameters: specs,
    dataInputs: [
      { name: 'idx', dtype: 'int64', shape: [batch, seq] },
      { name: 'targets', dtype: 'int64', shape: [batch, seq] },
    ],
    maskInputs,
    termsPerSample: seq,
    ...(teacherInput === undefined ? {} : { teacherInput }),
    ...(hiddenTerms === undefined ? {} : { teacherHiddenInputs: hiddenTerms.inputs }),
    batch,
    outputs: { lossSum: 'loss_sum', correct: 'correct', gradients, gradientLayout: 'perParameter' },
  };
}

/** Returns float32 [rows] with 1 where the target is counted and 0 where it is -1 (padding). */
function countedRows(g: Graph, flatTargets: Value): Value {
  const padding = g.op('Equal', [flatTargets, g.scalar(-1, 'int64', 'padding_target')], {}, { name: 'padding_rows' });
  // ONNX data type 1 is FLOAT.
  return g.op('Cast', [g.op('Not', [padding], {}, { name: 'counted_rows_bool' })], { to: 1 }, { name: 'counted_rows' });
}

/**
 * Builds the inference model in opset 17, with one input `idx` (int64 [batch, seq], seq up to
 * blockSize), one output `logits` (float32 [batch, seq, vocab]) and the parameters as
 * initializers. Linear weights are stored as [in, out] for MatMul. The tied head reads `wte`
 * through a Transpose, so the file contains it once. `metadata` goes to metadata_props, with
 * `blockSize`, `modelKind` and `nHead` added. Together with the tensor shapes, these entries
 * give back the config.
 *
 * @throws RangeError when `params` has the wrong length or the config is invalid
 */
export function gptInferenceModel(
  cfg: GptConfig,
  params: Float32Array,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const specs = gptParameters(cfg);
  const g = new Graph('gpt');
  const source = initializerSource(g, specs, params, 'GPT');
  const idx = g.input('idx', 'int64', ['batch', 'seq']);
  const b = new TransformerBuilder(g, cfg, { kind: 'tensor' }, source);
  let x = b.embed(idx, 'wte', 'wpe');
  const causal = b.causalBias(idx);
  for (let l = 0; l < cfg.nLayer; l++) x = b.block(x, l, causal);
  const h = b.layerNorm(x, 'ln_f');
  const head = cfg.tieEmbeddings === false
    ? source.transposed('lm_head.weight')
    : g.op('Transpose', [source.get('wte')], { perm: [1, 0] }, { name: 'wte_t' });
  g.output(g.op('MatMul', [h, head], {}, { name: 'lm_head' }), 'logits');
  return serializeModel(g, { metadata: { ...metadata, blockSize: String(cfg.blockSize), modelKind: 'gpt', nHead: String(cfg.nHead) } });
}
