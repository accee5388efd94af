import * as ort from 'onnxruntime-node';
import { fillDropoutMask } from '@ringtrain/data';
import type { RunConfig } from '@ringtrain/config';
import type { DistillSettings, TrainingGraph } from '@ringtrain/models';
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
  return teacher === undefined ? undefined : { temperature, alpha };
}
