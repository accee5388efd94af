import * as ort from 'onnxruntime-node';
import { ConfigError, type RunConfig } from '@ringtrain/config';
import { corpusFingerprint, fillWindowBatch, loadTextCorpus, validationWindows, windowStarts, type TextCorpus } from '@ringtrain/data';
import { gptInferenceModel, gptTrainingGraph, type GptConfig, type TrainingGraph } from '@ringtrain/models';
import { blockWidths } from './transformer-widths.js';
import { studentDataOf, type StudentData } from './teacher-runner.js';
import { checkFits, distillSettings, MaskBuffers, type TaskFeeds, type TrainingTask } from './training-task.js';

/**
 * Returns the GPT config of a run, with the vocabulary size taken from the corpus when unset.
 *
 * @throws ConfigError when model.vocabSize is set below the text's vocabulary size
 */
export function gptConfigOf(config: RunConfig, vocabLength: number): GptConfig {
  const { nLayer, nHead, nEmbd, blockSize, vocabSize, dropout, tieEmbeddings, bias } = config.model;
  if (vocabSize !== 0 && vocabSize < vocabLength) {
    throw new ConfigError(
      'model.vocabSize',
      `model.vocabSize ${vocabSize} is smaller than the text's ${vocabLength} distinct characters. ` +
        `Set model.vocabSize to at least ${vocabLength}, or to 0 to use the text's vocabulary size.`,
    );
  }
  return { nLayer, nHead, nEmbd, blockSize, vocabSize: vocabSize || vocabLength, dropout, tieEmbeddings, bias, ...blockWidths(config) };
}

/** Reusable static-batch buffers of inputs and targets [batch, seq]. */
class WindowBuffers {
  readonly idx: BigInt64Array;
  readonly targets: BigInt64Array;

  constructor(
    readonly batch: number,
    readonly seq: number,
  ) {
    this.idx = new BigInt64Array(batch * seq);
    this.targets = new BigInt64Array(batch * seq);
  }

  /** Fills the windows at `starts` and marks the rows after them as padding (input 0, target -1). */
  fill(tokens: Int32Array, starts: ArrayLike<number>): Record<string, ort.Tensor> {
    const n = starts.length * this.seq;
    fillWindowBatch(this.idx.subarray(0, n), this.targets.subarray(0, n), tokens, starts, this.seq);
    this.idx.fill(0n, n);
    this.targets.fill(-1n, n);
    return {
      idx: new ort.Tensor('int64', this.idx, [this.batch, this.seq]),
      targets: new ort.Tensor('int64', this.targets, [this.batch, this.seq]),
    };
  }
}

/**
 * Training task of a character-level GPT on a text file. The training items are all window starts
 * in the first 90% of the text. The evaluation items are all non-overlapping windows of the last 10%.
 */
export class LanguageModelTask implements TrainingTask {
  readonly trainGraph: TrainingGraph;
  readonly evalGraph: TrainingGraph;
  readonly trainCount: number;
  readonly evalCount: number;
  readonly evalBatch: number;
  readonly evalSplit = 'val' as const;
  readonly tokensPerItem: number;
  readonly dataFingerprint: string;
  readonly studentData: StudentData;
  private readonly corpus: TextCorpus;
  private readonly gpt: GptConfig;
  private readonly valStarts: Uint32Array;
  private readonly trainBuffers: WindowBuffers;
  private readonly evalBuffers: WindowBuffers;
  private readonly masks: MaskBuffers;

  constructor(
    private readonly config: RunConfig,
    microBatch: number,
  ) {
    const { blockSize } = config.model;
    this.corpus = loadTextCorpus({ path: config.data.path, blockSize });
    this.gpt = gptConfigOf(config, this.corpus.vocab.length);
    this.dataFingerprint = corpusFingerprint(this.corpus);
    this.trainCount = windowStarts(this.corpus.train.length, blockSize);
    this.valStarts = validationWindows(this.corpus.val.length, blockSize);
    this.evalCount = this.valStarts.length;
    // At most 64 windows and at most 16,384 input tokens per evaluation run, but at least one window.
    this.evalBatch = Math.max(1, Math.min(64, Math.floor(16384 / blockSize)));
    this.tokensPerItem = blockSize;
    const distill = distillSettings(config);
    this.trainGraph = gptTrainingGraph(this.gpt, distill === undefined ? { batch: microBatch } : { batch: microBatch, distill });
    this.studentData = studentDataOf(config, this.corpus.vocab).student;
    this.evalGraph = gptTrainingGraph(this.gpt, { batch: this.evalBatch, gradients: false });
    this.trainBuffers = new WindowBuffers(microBatch, blockSize);
    this.evalBuffers = new WindowBuffers(this.evalBatch, blockSize);
    this.masks = new MaskBuffers(this.trainGraph, microBatch);
  }

  trainFeeds(ids: Uint32Array, step: number): TaskFeeds {
    checkFits(this.trainGraph, ids.length);
    // A training item's id is its window start.
    const feeds = this.trainBuffers.fill(this.corpus.train, ids);
    this.masks.fill(feeds, ids, { seed: this.config.seed, step, training: true });
    return { feeds, samples: ids.length, terms: ids.length * this.tokensPerItem };
  }

  evalFeeds(first: number, count: number): TaskFeeds {
    checkFits(this.evalGraph, count);
    const feeds = this.evalBuffers.fill(this.corpus.val, this.valStarts.subarray(first, first + count));
    return { feeds, samples: count, terms: count * this.tokensPerItem };
  }

  exportModel(params: Float32Array): Uint8Array {
    return gptInferenceModel(this.gpt, params, { vocab: JSON.stringify(this.corpus.vocab) });
  }
}
