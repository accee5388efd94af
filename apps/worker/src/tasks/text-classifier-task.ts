import * as ort from 'onnxruntime-node';
import { ConfigError, type RunConfig } from '@ringtrain/config';
import { fillTokenBatch, loadSpamAssassin, splitFingerprint, WordTokenizer, type EncodedTexts } from '@ringtrain/data';
import { encoderInferenceModel, encoderTrainingGraph, type EncoderConfig, type TrainingGraph } from '@ringtrain/models';
import { blockWidths } from './transformer-widths.js';
import { studentDataOf, type StudentData } from './teacher-runner.js';
import { checkFits, distillSettings, MaskBuffers, type TaskFeeds, type TrainingTask } from './training-task.js';

/**
 * Returns the encoder config of a run, with the vocabulary size taken from the tokenizer when unset.
 *
 * @throws ConfigError when model.vocabSize is set below the tokenizer's size
 */
export function encoderConfigOf(config: RunConfig, vocabLength: number): EncoderConfig {
  const { nLayer, nHead, nEmbd, blockSize, vocabSize, dropout, classes, bias } = config.model;
  if (classes !== 2) {
    throw new ConfigError('model.classes', `the spam data has 2 classes, but model.classes is ${classes}. Set model.classes=2.`);
  }
  if (vocabSize !== 0 && vocabSize < vocabLength) {
    throw new ConfigError(
      'model.vocabSize',
      `model.vocabSize ${vocabSize} is smaller than the tokenizer's ${vocabLength} tokens. ` +
        `Set model.vocabSize to at least ${vocabLength} or to 0 to use the tokenizer's size, or lower data.maxVocab.`,
    );
  }
  return { nLayer, nHead, nEmbd, blockSize, vocabSize: vocabSize || vocabLength, classes, dropout, bias, padId: 0, ...blockWidths(config) };
}

/** Returns the metadata of an exported text classifier: the word vocabulary and the tokenizer as JSON. */
export function tokenizerMetadata(tokenizer: WordTokenizer): Record<string, string> {
  return {
    vocab: JSON.stringify(tokenizer.vocab),
    tokenizer: JSON.stringify({ kind: 'word', ...tokenizer.toJSON() }),
  };
}

/** Reusable static-batch buffers of token ids [batch, seq] and labels [batch]. */
class SequenceBuffers {
  readonly idx: BigInt64Array;
  readonly labels: BigInt64Array;

  constructor(
    readonly batch: number,
    readonly seq: number,
  ) {
    this.idx = new BigInt64Array(batch * seq);
    this.labels = new BigInt64Array(batch);
  }

  /** Fills the rows of samples `ids` and marks the rows after them as padding (ids 0, label -1). */
  fill(encoded: EncodedTexts, labels: Uint8Array, ids: ArrayLike<number>): Record<string, ort.Tensor> {
    const n = ids.length;
    fillTokenBatch(this.idx.subarray(0, n * this.seq), encoded, ids);
    for (let i = 0; i < n; i++) this.labels[i] = BigInt(labels[ids[i]!]!);
    this.idx.fill(0n, n * this.seq);
    this.labels.fill(-1n, n);
    return {
      idx: new ort.Tensor('int64', this.idx, [this.batch, this.seq]),
      labels: new ort.Tensor('int64', this.labels, [this.batch]),
    };
  }
}

/**
 * Training task of an encoder classifier on the labelled e-mails. The tokenizer is fitted on the
 * training split only, and every message is encoded once to blockSize tokens ([CLS] first, padded
 * with 0).
 */
export class TextClassifierTask implements TrainingTask {
  readonly trainGraph: TrainingGraph;
  readonly evalGraph: TrainingGraph;
  readonly trainCount: number;
  readonly evalCount: number;
  readonly evalBatch = 64;
  readonly evalSplit = 'test' as const;
  readonly tokensPerItem = 0;
  readonly dataFingerprint: string;
  readonly studentData: StudentData;
  private readonly tokenizer: WordTokenizer;
  private readonly encoder: EncoderConfig;
  private readonly train: { encoded: EncodedTexts; labels: Uint8Array };
  private readonly test: { encoded: EncodedTexts; labels: Uint8Array };
  private readonly trainBuffers: SequenceBuffers;
  private readonly evalBuffers: SequenceBuffers;
  private readonly masks: MaskBuffers;

  constructor(
    private readonly config: RunConfig,
    microBatch: number,
  ) {
    const { blockSize } = config.model;
    const data = loadSpamAssassin({ dir: config.data.path, seed: config.seed, testFraction: config.data.testFraction });
    this.tokenizer = WordTokenizer.fit(data.train.texts, { maxVocab: config.data.maxVocab });
    this.dataFingerprint = splitFingerprint(data.train);
    this.encoder = encoderConfigOf(config, this.tokenizer.size);
    this.train = { encoded: this.tokenizer.encodeAll(data.train.texts, blockSize), labels: data.train.labels };
    this.test = { encoded: this.tokenizer.encodeAll(data.test.texts, blockSize), labels: data.test.labels };
    this.trainCount = data.train.texts.length;
    this.evalCount = data.test.texts.length;
    const distill = distillSettings(config);
    this.trainGraph = encoderTrainingGraph(this.encoder, distill === undefined ? { batch: microBatch } : { batch: microBatch, distill });
    this.studentData = studentDataOf(config).student;
    this.evalGraph = encoderTrainingGraph(this.encoder, { batch: this.evalBatch, gradients: false });
    this.trainBuffers = new SequenceBuffers(microBatch, blockSize);
    this.evalBuffers = new SequenceBuffers(this.evalBatch, blockSize);
    this.masks = new MaskBuffers(this.trainGraph, microBatch);
  }

  trainFeeds(ids: Uint32Array, step: number): TaskFeeds {
    checkFits(this.trainGraph, ids.length);
    const feeds = this.trainBuffers.fill(this.train.encoded, this.train.labels, ids);
    this.masks.fill(feeds, ids, { seed: this.config.seed, step, training: true });
    return { feeds, samples: ids.length, terms: ids.length };
  }

  evalFeeds(first: number, count: number): TaskFeeds {
    checkFits(this.evalGraph, count);
    const ids = Uint32Array.from({ length: count }, (_, i) => first + i);
    const feeds = this.evalBuffers.fill(this.test.encoded, this.test.labels, ids);
    return { feeds, samples: count, terms: count };
  }

  exportModel(params: Float32Array): Uint8Array {
    return encoderInferenceModel(this.encoder, params, tokenizerMetadata(this.tokenizer));
  }
}
