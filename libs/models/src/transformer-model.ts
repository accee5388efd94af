import { parseModel, readModelMetadata, readWeights, type StoredWeight } from '@ringtrain/graph';
import { encoderInferenceModel, encoderParameters, type EncoderConfig } from './encoder.js';
import { gptInferenceModel, gptParameters, type GptConfig } from './gpt.js';
import { blockCount, initFromModel, outInShape } from './init-from-model.js';
import { parameterCount, type ParameterSpec } from './parameters.js';
import type { TransformerDims } from './transformer.js';

/**
 * A GPT or encoder read back from its model.onnx: the config, the flat parameter buffer in the
 * [out, in] layout of the training graphs, and the file's metadata (vocabulary or tokenizer).
 */
export type TransformerModel =
  | { kind: 'gpt'; config: GptConfig; params: Float32Array; metadata: Record<string, string> }
  | { kind: 'encoder'; config: EncoderConfig; params: Float32Array; metadata: Record<string, string> };

/** Error for a model file that is not a GPT or encoder that ringtrain exported. */
export class TransformerFileError extends Error {
  override name = 'TransformerFileError';
}

/** Returns the parameter tensors of a transformer model in flat-buffer order. */
export function transformerParameters(model: TransformerModel): ParameterSpec[] {
  return model.kind === 'gpt' ? gptParameters(model.config) : encoderParameters(model.config);
}

/** Writes a transformer model as its inference model.onnx, with the metadata it was read with. */
export function transformerInferenceModel(model: TransformerModel): Uint8Array {
  return model.kind === 'gpt'
    ? gptInferenceModel(model.config, model.params, model.metadata)
    : encoderInferenceModel(model.config, model.params, model.metadata);
}

/**
 * Returns a view of one tensor of the model's flat buffer, in the [out, in] layout.
 *
 * @throws Error when the model has no tensor of that name
 */
export function transformerTensor(model: TransformerModel, name: string): Float32Array {
  const spec = transformerParameters(model).find((s) => s.name === name);
  if (spec === undefined) throw new Error(`the ${model.kind} model has no tensor '${name}'`);
  return model.params.subarray(spec.offset, spec.offset + spec.size);
}

/**
 * Returns a model of the same kind and metadata with some sizes changed and every parameter 0,
 * for an operation that fills the new tensors from the old ones.
 */
export function resizedModel(model: TransformerModel, sizes: Partial<TransformerDims>): TransformerModel {
  if (model.kind === 'gpt') {
    const config = { ...model.config, ...sizes };
    return { ...model, config, params: new Float32Array(parameterCount(gptParameters(config))) };
  }
  const config = { ...model.config, ...sizes };
  return { ...model, config, params: new Float32Array(parameterCount(encoderParameters(config))) };
}

/**
 * Reads a GPT or encoder that ringtrain exported. The kind and the head count come from the
 * metadata (`modelKind`, `nHead`), every other size from the tensor shapes. `headSize` and
 * `mlpHidden` are set in the config only where they differ from their defaults, so a model of
 * default sizes reads back as the config it was written with.
 *
 * @throws TransformerFileError when the file is not such a model or its tensors do not fit
 * @throws OnnxFormatError when the bytes are not an ONNX model
 */
export function readTransformerModel(bytes: Uint8Array): TransformerModel {
  const metadata = readModelMetadata(bytes);
  const kind = metadata['modelKind'];
  if (kind !== 'gpt' && kind !== 'encoder') {
    const description = kind === undefined ? 'has no modelKind in its metadata' : `is a ${kind} model (modelKind in its metadata)`;
    throw new TransformerFileError(`the model file ${description}, so it is not a gpt or encoder that ringtrain exported. Pass the model.onnx of a gpt or encoder run.`);
  }
  const weights = readWeights(bytes);
  const embedding = kind === 'gpt' ? 'wte' : 'tok_emb';
  const dims = transformerDims(weights, metadata, bytes, kind === 'gpt' ? 'wpe' : 'pos_emb', embedding);
  const vocabSize = shapeOf(weights, embedding)[0]!;
  let model: TransformerModel;
  if (kind === 'gpt') {
    const config: GptConfig = { ...dims, vocabSize, ...(weights.has('lm_head.weight') ? { tieEmbeddings: false } : {}) };
    model = { kind, config, params: new Float32Array(parameterCount(gptParameters(config))), metadata };
  } else {
    const classes = shapeOf(weights, 'classifier.weight')[0]!;
    const config: EncoderConfig = { ...dims, vocabSize, classes, padId: Number(metadata['padId'] ?? 0) };
    model = { kind, config, params: new Float32Array(parameterCount(encoderParameters(config))), metadata };
  }
  try {
    initFromModel(transformerParameters(model), model.params, bytes);
  } catch (err) {
    throw new TransformerFileError(`the ${kind} model file does not fit the config read from it: ${(err as Error).message}`);
  }
  return model;
}

/** Returns the [out, in] shape of a stored tensor, or throws naming the missing tensor. */
function shapeOf(weights: ReadonlyMap<string, StoredWeight>, name: string): number[] {
  const weight = weights.get(name);
  if (weight === undefined) {
    throw new TransformerFileError(`the model file has no tensor '${name}', so it is not a transformer that ringtrain exported`);
  }
  return outInShape(weight);
}

/** Reads the sizes shared by the GPT and the encoder from the tensor shapes and the metadata. */
function transformerDims(
  weights: ReadonlyMap<string, StoredWeight>,
  metadata: Readonly<Record<string, string>>,
  bytes: Uint8Array,
  positions: string,
  embedding: string,
): TransformerDims {
  const nLayer = blockCount([...weights.keys()]);
  if (nLayer === 0) throw new TransformerFileError('the model file has no transformer blocks named h0.*, so it is not a transformer that ringtrain exported');
  const nEmbd = shapeOf(weights, embedding)[1]!;
  const blockSize = shapeOf(weights, positions)[0]!;
  const nHead = headCount(metadata, bytes);
  const attention = shapeOf(weights, 'h0.attn.c_attn.weight')[0]! / 3;
  const headSize = attention / nHead;
  if (!Number.isInteger(headSize)) {
    throw new TransformerFileError(`h0.attn.c_attn.weight has ${attention * 3} rows, which do not split into 3 x ${nHead} heads`);
  }
  const mlpHidden = shapeOf(weights, 'h0.mlp.c_fc.weight')[0]!;
  const dims: TransformerDims = { nLayer, nHead, nEmbd, blockSize };
  if (headSize * nHead !== nEmbd) dims.headSize = headSize;
  if (mlpHidden !== 4 * nEmbd) dims.mlpHidden = mlpHidden;
  if (!weights.has('h0.attn.c_attn.bias')) dims.bias = false;
  return dims;
}

/**
 * Returns the head count: the `nHead` metadata entry, or for files written before that entry
 * existed, the head count in the graph's `head_shape` constant [0, 0, nHead, headSize].
 */
function headCount(metadata: Readonly<Record<string, string>>, bytes: Uint8Array): number {
  const stored = metadata['nHead'];
  if (stored !== undefined) {
    const nHead = Number(stored);
    if (Number.isInteger(nHead) && nHead > 0) return nHead;
    throw new TransformerFileError(`the model file's metadata gives nHead '${stored}', which is not a positive integer`);
  }
  const shape = parseModel(bytes).graph.initializers.find((v) => v.name === 'head_shape')?.elements;
  const nHead = shape?.[2];
  if (typeof nHead !== 'number') {
    throw new TransformerFileError('the model file has neither nHead in its metadata nor a head_shape constant, so its head count is unknown');
  }
  return nHead;
}

/** Options of {@link copyTensors}. */
export interface CopyTensorsOptions {
  /**
   * Returns the tensor of `from` that fills the tensor `name` of `to`, or undefined to leave it
   * for the caller. @defaultValue the same name
   */
  source?: (name: string) => string | undefined;
}

/**
 * Copies tensors from `from` into `to` by name, for the parts of a model that an operation keeps
 * as they are.
 *
 * @throws Error naming both tensors when a source is missing or has another shape
 */
export function copyTensors(from: TransformerModel, to: TransformerModel, options: CopyTensorsOptions = {}): void {
  const sources = new Map(transformerParameters(from).map((spec) => [spec.name, spec]));
  for (const spec of transformerParameters(to)) {
    const name = options.source === undefined ? spec.name : options.source(spec.name);
    if (name === undefined) continue;
    const source = sources.get(name);
    if (source === undefined || source.shape.join() !== spec.shape.join()) {
      const found = source === undefined ? 'missing' : `[${source.shape.join(', ')}]`;
      throw new Error(`tensor '${spec.name}' [${spec.shape.join(', ')}] cannot be copied from '${name}', which is ${found}`);
    }
    to.params.set(from.params.subarray(source.offset, source.offset + source.size), spec.offset);
  }
}
