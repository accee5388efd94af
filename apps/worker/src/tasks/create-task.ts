import type { RunConfig } from '@ringtrain/config';
import { ImageClassifierTask } from './image-classifier-task.js';
import { LanguageModelTask } from './language-model-task.js';
import { TextClassifierTask } from './text-classifier-task.js';
import type { TrainingTask } from './training-task.js';

/** Builds the training task for a run's model.kind, with training graphs for `microBatch` items. */
export function createTask(config: RunConfig, microBatch: number): TrainingTask {
  switch (config.model.kind) {
    case 'mlp':
      return new ImageClassifierTask(config, microBatch);
    case 'gpt':
      return new LanguageModelTask(config, microBatch);
    case 'encoder':
      return new TextClassifierTask(config, microBatch);
  }
}
