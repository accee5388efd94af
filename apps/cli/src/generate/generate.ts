import { Philox, RandomStream } from '@ringtrain/random';
import * as ort from 'onnxruntime-node';
import { UsageError } from '../args.js';
import { INPUT_NAME, ModelFileError, OUTPUT_NAME, type LanguageModel } from './model.js';
import { checkSamplingOptions, sampleToken, type SamplingOptions } from './sample.js';

export interface GenerateOptions extends SamplingOptions {
  /** Number of tokens to sample after the prompt. */
  tokens: number;
  /** Seed of the Philox stream that draws one uniform per sampled token. */
  seed: number;
  /** Called after each sampled token, with its id and its 0-based step. */
  onToken?: (id: number, step: number) => void;
}

/**
 * Encodes a prompt as token ids, one per Unicode code point.
 *
 * @throws UsageError naming the first character that is not in the vocabulary
 */
export function encodePrompt(prompt: string, vocab: readonly string[]): number[] {
  const ids = new Map(vocab.map((char, id) => [char, id]));
  const tokens: number[] = [];
  for (const char of prompt) {
    const id = ids.get(char);
    if (id === undefined) {
      const codePoint = `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
      throw new UsageError(
        `--prompt contains ${JSON.stringify(char)} (${codePoint}) at index ${tokens.length}, which is not in the model's ` +
          `vocabulary; the model's vocabulary has ${vocab.length} characters: ${previewVocab(vocab)}`,
      );
    }
    tokens.push(id);
  }
  return tokens;
}

export function decodeTokens(ids: readonly number[], vocab: readonly string[]): string {
  return ids.map((id) => vocab[id]!).join('');
}

/**
 * Samples `options.tokens` token ids after `prompt`. Step i feeds the last `blockSize` tokens
 * (all of them when the model has no block size), takes the logits of the last fed position
 * and draws with uniform i of the Philox stream (seed, RandomStream.sampling). The result
 * depends only on the logits onnxruntime returns, the prompt and the options.
 * NOTE: onnxruntime may pick other kernels on CPUs with other vector extensions, which can
 * change the last bits of the logits and so, rarely, a sampled token.
 *
 * @throws ModelFileError when the model fails or returns logits of an unexpected shape, NaN or +Infinity
 */
export async function generateTokens(model: LanguageModel, prompt: readonly number[], options: GenerateOptions): Promise<number[]> {
  if (prompt.length === 0) throw new UsageError('--prompt must contain at least one character');
  // Checked here, so that a RangeError inside the loop can only come from the logits.
  checkSamplingOptions(options);
  const rng = new Philox(options.seed, RandomStream.sampling);
  const context = [...prompt];
  const sampled: number[] = [];
  for (let step = 0; step < options.tokens; step++) {
    const logits = await lastLogits(model, context);
    let id: number;
    try {
      id = sampleToken(logits, options, rng.uniform53(step));
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new ModelFileError(`model ${model.path} returned logits that cannot be sampled after ${context.length} tokens: ${error.message}`);
    }
    context.push(id);
    sampled.push(id);
    options.onToken?.(id, step);
  }
  return sampled;
}

/** Runs the model on the end of `context` and returns the logits of the last context token. */
async function lastLogits(model: LanguageModel, context: readonly number[]): Promise<Float32Array> {
  const window = model.blockSize === undefined ? context : context.slice(-model.blockSize);
  // A static seq dimension needs exactly blockSize tokens. Padding on the right with id 0
  // leaves the logits of the real positions unchanged, because in a causal language model
  // position t depends only on positions up to t.
  const length = model.fixedLength ? model.blockSize! : window.length;
  const ids = new BigInt64Array(length);
  window.forEach((id, i) => (ids[i] = BigInt(id)));

  let outputs: ort.InferenceSession.ReturnType;
  try {
    outputs = await model.session.run({ [INPUT_NAME]: new ort.Tensor('int64', ids, [1, length]) });
  } catch (error) {
    const hint = model.blockSize === undefined ? "; if the model has a maximum context length, set 'blockSize' in its metadata" : '';
    throw new ModelFileError(`model ${model.path} failed on an input of shape [1, ${length}]: ${(error as Error).message}${hint}`);
  }
  const logits = outputs[OUTPUT_NAME]!;
  const vocabSize = model.vocab.length;
  const [batch, seq, width] = logits.dims;
  // A model may pad its vocabulary (model.vocabSize above the text's characters); only the
  // first vocabSize logits name characters, so sampling reads those.
  if (logits.type !== 'float32' || logits.dims.length !== 3 || batch !== 1 || seq !== length || width === undefined || width < vocabSize) {
    throw new ModelFileError(
      `model ${model.path} returned '${OUTPUT_NAME}' of type ${logits.type} [${logits.dims.join(', ')}] for ` +
        `input [1, ${length}]; expected float32 [1, ${length}, V] with V at least ${vocabSize}, the length of its vocab metadata`,
    );
  }
  const data = logits.data as Float32Array;
  const start = (window.length - 1) * width;
  return data.subarray(start, start + vocabSize);
}

function previewVocab(vocab: readonly string[]): string {
  const MAX_SHOWN = 100;
  const preview = JSON.stringify(vocab.slice(0, MAX_SHOWN).join(''));
  return vocab.length > MAX_SHOWN ? `${preview} and ${vocab.length - MAX_SHOWN} more` : preview;
}
