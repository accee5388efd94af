import { permutation, RandomStream } from '@ringtrain/random';
import { checkRank, splitEvenly } from './partition.js';

/** Options of {@link DistributedSampler}. */
export interface DistributedSamplerOptions {
  /** Number of samples in the training set. */
  datasetSize: number;
  /** Samples per optimiser step summed over all ranks (the config's `train.batchSize`). */
  globalBatchSize: number;
  worldSize: number;
  rank: number;
  /** Run seed, an integer in [0, 2^32). */
  seed: number;
  /**
   * Skip the last global batch of an epoch when it is smaller than `globalBatchSize`.
   * @defaultValue false: the short batch is split across ranks as evenly as possible
   */
  dropLast?: boolean;
}

/** One rank's part of a global batch. */
export interface RankBatch {
  /** Indices into the data set of this rank's samples. */
  sampleIds: Uint32Array;
  /** Position of each sample within the global batch; `globalOffset + i` for sample `i`. */
  positions: Uint32Array;
  /** Position of this rank's first sample within the global batch. */
  globalOffset: number;
  /** Samples in the whole global batch; below `globalBatchSize` only for a short last batch. */
  globalBatchSize: number;
}

/** Epoch and step within the epoch of a global optimiser step. */
export interface EpochPosition {
  epoch: number;
  stepInEpoch: number;
}

/**
 * Assigns training samples to ranks, as a pure function of (seed, epoch, world size, rank).
 *
 * Each epoch shuffles the whole data set with a permutation keyed on (seed, epoch) only. Step `s`
 * of the epoch takes the global batch `perm[s * B, (s + 1) * B)` and rank `r` takes a contiguous
 * slice of `B / N` samples of it. The union over ranks at a step is therefore the same global batch
 * for every world size, the slices are disjoint, and one epoch visits every sample once (unless
 * `dropLast` skips the tail).
 *
 * A short last batch is split as evenly as possible, so a rank may get no samples. That rank must
 * still join the all-reduce, with a zero gradient and a sample count of 0.
 */
export class DistributedSampler {
  readonly datasetSize: number;
  readonly globalBatchSize: number;
  readonly worldSize: number;
  readonly rank: number;
  readonly seed: number;
  readonly dropLast: boolean;
  /** Optimiser steps per epoch. */
  readonly stepsPerEpoch: number;
  private cachedEpoch = -1;
  private cachedPermutation: Uint32Array = new Uint32Array(0);

  /**
   * @throws Error when the world size does not divide the global batch size
   * @throws RangeError on a non-positive size, an invalid rank or seed, or when `dropLast`
   *   leaves no step in an epoch
   */
  constructor(options: DistributedSamplerOptions) {
    const { datasetSize, globalBatchSize, worldSize, rank, seed } = options;
    this.dropLast = options.dropLast ?? false;

    if (!Number.isInteger(datasetSize) || datasetSize < 1) {
      throw new RangeError(`data set size must be an integer >= 1, got ${datasetSize}`);
    }
    if (!Number.isInteger(globalBatchSize) || globalBatchSize < 1) {
      throw new RangeError(`global batch size must be an integer >= 1, got ${globalBatchSize}`);
    }
    checkRank(worldSize, rank);
    if (globalBatchSize % worldSize !== 0) {
      throw new Error(
        `global batch size ${globalBatchSize} is not divisible by world size ${worldSize}: ` +
          `each rank takes batchSize / worldSize samples, so use a batch size that is a ` +
          `multiple of ${worldSize}`,
      );
    }
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
    }

    this.stepsPerEpoch = this.dropLast
      ? Math.floor(datasetSize / globalBatchSize)
      : Math.ceil(datasetSize / globalBatchSize);
    if (this.stepsPerEpoch === 0) {
      throw new RangeError(
        `dropLast with global batch size ${globalBatchSize} over ${datasetSize} samples ` +
          'leaves no step per epoch; lower the batch size or set dropLast to false',
      );
    }
    this.datasetSize = datasetSize;
    this.globalBatchSize = globalBatchSize;
    this.worldSize = worldSize;
    this.rank = rank;
    this.seed = seed;
  }

  /**
   * Returns the order in which `epoch` visits the data set. The array is cached for the latest
   * epoch and shared between calls, so callers must not modify it.
   */
  epochPermutation(epoch: number): Uint32Array {
    if (!Number.isInteger(epoch) || epoch < 0 || epoch >= 2 ** 32) {
      throw new RangeError(`epoch must be an integer in [0, 2^32), got ${epoch}`);
    }
    if (epoch !== this.cachedEpoch) {
      this.cachedPermutation = permutation(
        this.datasetSize,
        this.seed,
        RandomStream.samplerShuffle,
        epoch,
      );
      this.cachedEpoch = epoch;
    }
    return this.cachedPermutation;
  }

  /** Returns a copy of the sample ids of the whole global batch at (epoch, stepInEpoch). */
  globalBatch(epoch: number, stepInEpoch: number): Uint32Array {
    const start = this.checkStep(stepInEpoch) * this.globalBatchSize;
    const end = Math.min(start + this.globalBatchSize, this.datasetSize);
    return this.epochPermutation(epoch).slice(start, end);
  }

  /** Returns this rank's part of the global batch at (epoch, stepInEpoch). */
  rankBatch(epoch: number, stepInEpoch: number): RankBatch {
    const start = this.checkStep(stepInEpoch) * this.globalBatchSize;
    const globalBatchSize = Math.min(this.globalBatchSize, this.datasetSize - start);
    const slice = splitEvenly(globalBatchSize, this.worldSize, this.rank);
    const sampleIds = this.epochPermutation(epoch).slice(start + slice.start, start + slice.end);
    const positions = new Uint32Array(sampleIds.length);
    for (let i = 0; i < positions.length; i++) positions[i] = slice.start + i;
    return { sampleIds, positions, globalOffset: slice.start, globalBatchSize };
  }

  /** Converts a global optimiser step, counted from 0 over the whole run, to (epoch, stepInEpoch). */
  locate(globalStep: number): EpochPosition {
    if (!Number.isInteger(globalStep) || globalStep < 0) {
      throw new RangeError(`global step must be an integer >= 0, got ${globalStep}`);
    }
    return {
      epoch: Math.floor(globalStep / this.stepsPerEpoch),
      stepInEpoch: globalStep % this.stepsPerEpoch,
    };
  }

  private checkStep(stepInEpoch: number): number {
    if (!Number.isInteger(stepInEpoch) || stepInEpoch < 0 || stepInEpoch >= this.stepsPerEpoch) {
      throw new RangeError(
        `step in epoch must be an integer in [0, ${this.stepsPerEpoch}), got ${stepInEpoch}`,
      );
    }
    return stepInEpoch;
  }
}
