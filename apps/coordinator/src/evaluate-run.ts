import type { RunConfig } from '@ringtrain/config';
import { loadMnist, loadSpamAssassin, loadTextCorpus, validationWindows, WordTokenizer } from '@ringtrain/data';
import { readModelMetadata } from '@ringtrain/graph';
import type { Logger } from '@ringtrain/logging';
import { evaluateClassifier } from './evaluate-model.js';
import { evaluateLanguageModel, evaluateSequenceClassifier } from './evaluate-text.js';

const THREADS = 2;

/**
 * Evaluates the exported model.onnx of a run on its held-out data and returns the summary keys:
 * `testAccuracy`, `testErrors` and `testLoss` for classifiers, `valLoss` and `valAccuracy`
 * for language models (every non-overlapping window of the validation text).
 *
 * @param file - name of the model in log lines
 */
export async function evaluateExportedModel(
  config: RunConfig,
  modelBytes: Uint8Array,
  logger: Logger,
  file = 'model.onnx',
): Promise<Record<string, number>> {
  switch (config.model.kind) {
    case 'mlp': {
      const test = loadMnist({ dir: config.data.path, split: 'test' });
      logger.info({ samples: test.count }, `evaluating ${file} on the test set`);
      const options = { features: config.model.inputSize, threads: THREADS };
      const result = await evaluateClassifier(modelBytes, test.images, test.labels, options);
      return {
        testAccuracy: result.correct / result.count,
        testErrors: result.count - result.correct,
        testLoss: result.loss,
      };
    }
    case 'gpt': {
      const { blockSize } = config.model;
      const corpus = loadTextCorpus({ path: config.data.path, blockSize });
      const vocab = readModelMetadata(modelBytes)['vocab'];
      if (vocab !== JSON.stringify(corpus.vocab)) {
        throw new Error(
          `the vocabulary in model.onnx differs from the vocabulary of ${corpus.path}, ` +
            'so the export is broken or the file changed during the run',
        );
      }
      const starts = validationWindows(corpus.val.length, blockSize);
      logger.info({ windows: starts.length, tokens: starts.length * blockSize }, `evaluating ${file} on the validation text`);
      const result = await evaluateLanguageModel(modelBytes, corpus.val, starts, { blockSize, threads: THREADS });
      return { valLoss: result.loss, valAccuracy: result.accuracy };
    }
    case 'encoder': {
      const json = readModelMetadata(modelBytes)['tokenizer'];
      if (json === undefined) {
        throw new Error("model.onnx has no 'tokenizer' in its metadata, so the export is broken");
      }
      const tokenizer = WordTokenizer.fromJSON(json);
      const data = loadSpamAssassin({ dir: config.data.path, seed: config.seed, testFraction: config.data.testFraction });
      const seqLen = config.model.blockSize;
      const encoded = tokenizer.encodeAll(data.test.texts, seqLen);
      logger.info({ samples: data.test.texts.length }, `evaluating ${file} on the test e-mails`);
      const result = await evaluateSequenceClassifier(modelBytes, encoded.ids, data.test.labels, {
        seqLen,
        threads: THREADS,
      });
      return {
        testAccuracy: result.correct / result.count,
        testErrors: result.count - result.correct,
        testLoss: result.loss,
      };
    }
  }
}
