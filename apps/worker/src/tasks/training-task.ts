import * as ort from 'onnxruntime-node';
import { fillDropoutMask } from '@ringtrain/data';
import { ConfigError, type RunConfig } from '@ringtrain/config';
import { hiddenInputName, type DistillSettings, type HiddenDistillSettings, type TeacherHiddenInput, type TrainingGraph } from '@ringtrain/models';
import type { StudentData } from './teacher-runner.js';

/** Data inputs of one session run, with the samples and loss terms they contain. */
export interface TaskFeeds {
  /** Data and mask tensors. The compute thread adds the parameters. */
  feeds: Record<string, ort.Tensor>;
  /** Real samples in the run (padding excluded). */
  samples: number;
  /** Loss terms the run counts: samples for classifiers, target tokens for language models. */
  terms: number;
}

/**
 * Graphs, data and model export for training one kind of model on one kind of data in the
 * compute thread. Data items are numbered 0 .. count-1 so that the distributed sampler can split
 * them across ranks.
 */
export interface TrainingTask {
  readonly trainGraph: TrainingGraph;
  /** Graph for evaluation runs, which may be `trainGraph` itself. */
  readonly evalGraph: TrainingGraph;
  /** Number of items in the training set. */
  readonly trainCount: number;
  /** Number of items in the evaluation set (validation windows or test samples). */
  readonly evalCount: number;
  /** Maximum number of items per evaluation run. */
  readonly evalBatch: number;
  /** Split that evaluation reports: `val` for language models (validation loss), `test` for classifiers. */
  readonly evalSplit: 'val' | 'test';
  /** Tokens per training item for language models, else 0. */
  readonly tokensPerItem: number;
  /** The input a distillation teacher receives, and the vocabulary it must share. */
  readonly studentData: StudentData;
  /** SHA-256 of the training data, which checkpoints store. It is undefined where the data set is fixed. */
  readonly dataFingerprint: string | undefined;
  /**
   * Fills the feeds for training items `ids` (at most the micro-batch) at optimiser step `step`.
   * The tensors reuse buffers that the next call overwrites.
   */
  trainFeeds(ids: Uint32Array, step: number): TaskFeeds;
  /**
   * Fills the feeds for evaluation items first .. first + count - 1 (at most `evalBatch`).
   * The tensors reuse buffers that the next call overwrites.
   */
  evalFeeds(first: number, count: number): TaskFeeds;
  /**
   * Builds the inference model with `params` as initializers and, for text models, the
   * vocabulary in its metadata.
   */
  exportModel(params: Float32Array): Uint8Array;
}

/** Reusable mask buffers of a training graph for up to `capacity` samples. */
export class MaskBuffers {
  private readonly buffers: Float32Array[];

  constructor(
    private readonly graph: TrainingGraph,
    private readonly capacity: number,
  ) {
    this.buffers = graph.maskInputs.map((m) => new Float32Array(capacity * m.width));
  }

  /**
   * Writes the masks of samples `ids` into `feeds`. Rows past `ids.length` (padding of a static
   * batch) are ones. Without `training` every mask is ones.
   */
  fill(
    feeds: Record<string, ort.Tensor>,
    ids: Uint32Array,
    options: { seed: number; step: number; training: boolean },
  ): void {
    const rows = this.graph.batch ?? ids.length;
    this.graph.maskInputs.forEach((mask, i) => {
      const buffer = this.buffers[i]!;
      const data = buffer.subarray(0, rows * mask.width);
      if (options.training && mask.keepProb < 1) {
        const sampleMasks = data.subarray(0, ids.length * mask.width);
        fillDropoutMask(sampleMasks, {
          ...options,
          layer: mask.layer,
          sampleIds: ids,
          width: mask.width,
          keepProb: mask.keepProb,
        });
        data.fill(1, ids.length * mask.width);
      } else {
        data.fill(1);
      }
      feeds[mask.name] = new ort.Tensor('float32', data, [rows, mask.width]);
    });
  }

  get size(): number {
    return this.capacity;
  }
}

/** Throws when `count` items do not fit a graph's static batch. */
export function checkFits(graph: TrainingGraph, count: number): void {
  if (graph.batch !== undefined && count > graph.batch) {
    throw new Error(
      `${count} items exceed the static batch size ${graph.batch} of the session run. ` +
        `Pass at most ${graph.batch} items.`,
    );
  }
}

/** Returns the distillation settings of a run, or undefined when it has no teacher. */
export function distillSettings(config: RunConfig): DistillSettings | undefined {
  const { teacher, temperature, alpha } = config.distill;
  if (teacher === undefined) return undefined;
  const hidden = hiddenSettings(config);
  return hidden === undefined ? { temperature, alpha } : { temperature, alpha, hidden };
}

/** Returns the teacher hidden states that a run's student graph takes, as the graph declares them. */
export function teacherHiddenInputsOf(config: RunConfig): TeacherHiddenInput[] {
  const hidden = distillSettings(config)?.hidden;
  if (hidden === undefined) return [];
  return hidden.pairs.map(({ teacherValue }, k) => ({ name: hiddenInputName(k), teacherValue, width: hidden.teacherWidth }));
}

/** Returns the name of the value that block `k` of a ringtrain GPT writes, its output residual stream. */
export function teacherBlockValue(k: number): string {
  return `h${k}/resid_mlp`;
}

/**
 * Returns the hidden-state distillation settings of a run, or undefined when it matches logits
 * only.
 *
 * @throws ConfigError when the block lists differ in length, the student is no GPT, or a
 *   student block is outside the model
 */
function hiddenSettings(config: RunConfig): HiddenDistillSettings | undefined {
  const { hiddenStudent, hiddenTeacher, hiddenLoss, hiddenWeight, hiddenWidth } = config.distill;
  if (hiddenStudent.length === 0 && hiddenTeacher.length === 0) return undefined;
  if (hiddenStudent.length !== hiddenTeacher.length) {
    throw new ConfigError(
      'distill.hiddenTeacher',
      `distill.hiddenStudent lists ${hiddenStudent.length} blocks and distill.hiddenTeacher ${hiddenTeacher.length}; ` +
        'give one teacher block for each student block',
    );
  }
  if (config.model.kind !== 'gpt') {
    throw new ConfigError('distill.hiddenStudent', `hidden-state distillation needs a gpt student, but model.kind is ${config.model.kind}; leave distill.hiddenStudent empty`);
  }
  const outside = hiddenStudent.find((b) => b >= config.model.nLayer);
  if (outside !== undefined) {
    throw new ConfigError('distill.hiddenStudent', `distill.hiddenStudent names block ${outside}, but the student has blocks 0 to ${config.model.nLayer - 1}`);
  }
  return {
    pairs: hiddenStudent.map((studentBlock, k) => ({ studentBlock, teacherValue: teacherBlockValue(hiddenTeacher[k]!) })),
    teacherWidth: hiddenWidth || config.model.nEmbd,
    loss: hiddenLoss,
    weight: hiddenWeight,
  };
}
