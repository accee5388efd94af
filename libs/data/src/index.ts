export { fillImageBatch, fillLabelBatch, type ImageSet, type ShiftAugment } from './batch.js';
export { fillDropoutMask, type DropoutMaskOptions } from './dropout.js';
export { evalShard } from './eval-shard.js';
export { IdxFormatError, parseIdx, readIdxFile, type IdxArray, type IdxDType } from './idx.js';
export {
  defaultMnistDir,
  loadMnist,
  type LoadMnistOptions,
  type MnistData,
  type MnistSplit,
} from './mnist.js';
export type { IndexRange } from './partition.js';
export {
  DistributedSampler,
  type DistributedSamplerOptions,
  type EpochPosition,
  type RankBatch,
} from './sampler.js';
