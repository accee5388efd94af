export { fillImageBatch, fillLabelBatch, type ImageSet, type ShiftAugment } from './batch.js';
export { CharTokenizer, charVocabulary } from './char-tokenizer.js';
export { fillDropoutMask, type DropoutMaskOptions } from './dropout.js';
export { evalShard } from './eval-shard.js';
export { IdxFormatError, parseIdx, readIdxFile, type IdxArray, type IdxDType } from './idx.js';
export { extractMailText } from './mail-text.js';
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
export {
  defaultSpamAssassinDir,
  loadSpamAssassin,
  SPAM_ASSASSIN_GROUPS,
  type LoadSpamAssassinOptions,
  type SpamAssassinData,
  type TextClassificationSplit,
} from './spam-assassin.js';
export {
  defaultTextCorpusPath,
  fillWindowBatch,
  loadTextCorpus,
  TEXT_TRAIN_FRACTION,
  validationWindows,
  windowStarts,
  type LoadTextCorpusOptions,
  type TextCorpus,
} from './text-corpus.js';
export {
  CLS_ID,
  EMAIL_TOKEN,
  fillTokenBatch,
  NUMBER_TOKEN,
  PAD_ID,
  UNK_ID,
  URL_TOKEN,
  WordTokenizer,
  type EncodedText,
  type EncodedTexts,
  type WordTokenizerFitOptions,
  type WordTokenizerJSON,
} from './word-tokenizer.js';
export { corpusFingerprint, splitFingerprint } from './fingerprint.js';
