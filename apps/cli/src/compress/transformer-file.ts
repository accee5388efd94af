import * as ort from 'onnxruntime-node';
import { readModelMetadata } from '@ringtrain/graph';
import { headSizeOf, mlpWidth, readTransformerModel, type TransformerModel } from '@ringtrain/models';
import { Philox, RandomStream } from '@ringtrain/random';
import { UsageError } from '../args.js';
import type { SourceRun } from './model-row.js';

/**
 * Returns the `modelKind` that a ringtrain export records in its metadata (`gpt`, `encoder`), or
 * undefined for a file without one, such as an MLP.
 *
 * @throws UsageError when the bytes are not an ONNX model
 */
export function modelKindOf(path: string, bytes: Uint8Array): string | undefined {
  try {
    return readModelMetadata(bytes)['modelKind'];
  } catch (err) {
    throw new UsageError(`cannot read --model ${path}: ${(err as Error).message}`);
  }
}

/** Reads a GPT or encoder model file, with errors that name the file. */
export function readTransformerFile(path: string, bytes: Uint8Array): TransformerModel {
  try {
    return readTransformerModel(bytes);
  } catch (err) {
    throw new UsageError(`cannot read --model ${path} as a gpt or encoder: ${(err as Error).message}`);
  }
}

/** Returns the values of the config keys `model.*` that give a transformer's sizes. */
function transformerSizes(model: TransformerModel): { nLayer: number; nHead: number; headSize: number; mlpHidden: number } {
  const { config } = model;
  return { nLayer: config.nLayer, nHead: config.nHead, headSize: headSizeOf(config), mlpHidden: mlpWidth(config) };
}

/** Returns the config keys that give a transformer's sizes, as `--set` flags. */
export function transformerSizeFlags(model: TransformerModel): string {
  return Object.entries(transformerSizes(model))
    .map(([key, value]) => `--set model.${key}=${value}`)
    .join(' ');
}

/** Returns a one-line description of a transformer's sizes, e.g. `4 blocks, 4 heads of 32, MLP 512`. */
export function describeTransformer(model: TransformerModel): string {
  const { config } = model;
  return `${config.nLayer} blocks, ${config.nHead} heads of ${headSizeOf(config)}, MLP ${mlpWidth(config)}`;
}

/** Returns the source run with the model sizes of `model`, so that a report row evaluates it as that model. */
export function withModelSizes(source: SourceRun, model: TransformerModel): SourceRun {
  return { ...source, config: { ...source.config, model: { ...source.config.model, ...transformerSizes(model) } } };
}

/** Largest difference of the logits of two transformers on the same random token windows. */
export interface WindowComparison {
  maxDifference: number;
  windows: number;
  tokens: number;
}

/**
 * Runs two transformer model files on `windows` windows of blockSize random tokens below
 * vocabSize, drawn with `seed`, and returns the largest absolute difference of their logits.
 */
export async function compareOnRandomWindows(a: Uint8Array, b: Uint8Array, model: TransformerModel, windows: number, seed: number): Promise<WindowComparison> {
  const { vocabSize, blockSize } = model.config;
  // The growth stream with sub-stream 1 keeps these tokens apart from the draws of the growth itself.
  const rng = new Philox(seed, RandomStream.growth, 1);
  const tokens = BigInt64Array.from({ length: windows * blockSize }, (_, i) => BigInt(Math.floor(rng.uniform(i) * vocabSize)));
  const idx = new ort.Tensor('int64', tokens, [windows, blockSize]);
  const run = async (bytes: Uint8Array) => {
    const session = await ort.InferenceSession.create(bytes);
    try {
      return (await session.run({ idx }))['logits']!.data as Float32Array;
    } finally {
      await session.release();
    }
  };
  const [x, y] = [await run(a), await run(b)];
  const maxDifference = x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
  return { maxDifference, windows, tokens: tokens.length };
}
