import { readModelMetadata } from '@ringtrain/graph';
import type { RunConfig } from '@ringtrain/config';
import { fillImageBatch, fillTokenBatch, fillWindowBatch, loadMnist, loadSpamAssassin, loadTextCorpus, windowStarts, WordTokenizer } from '@ringtrain/data';
import type { CalibrationBatch } from '@ringtrain/quantize';
import { permutation, RandomStream } from '@ringtrain/random';
import * as ort from 'onnxruntime-node';

/** Samples per calibration run, which bounds the memory of the intermediate tensors. */
const CALIBRATION_BATCH = 32;

/** A calibration sample of a run's training data. */
export interface CalibrationSample {
  batches: CalibrationBatch[];
  /** Number of samples drawn: images, text windows or e-mails. */
  samples: number;
  /** Name of the sampled items, for messages. */
  unit: string;
}

/**
 * Draws `samples` training items of a run and returns them as model inputs. The items are the
 * first ones of a permutation fixed by `seed`, so the same seed gives the same sample. MNIST
 * images become `input` (pixels / 255), and text windows of `blockSize` characters or encoded
 * e-mails become `idx`. A training set smaller than `samples` is used whole.
 *
 * @throws Error when the data cannot be read or does not match the model's vocabulary or tokenizer
 */
export function calibrationSample(config: RunConfig, modelBytes: Uint8Array, samples: number, seed: number): CalibrationSample {
  switch (config.data.name) {
    case 'mnist': {
      const train = loadMnist({ dir: config.data.path, split: 'train' });
      const ids = draw(train.count, samples, seed);
      const features = train.rows * train.cols;
      const batches = chunks(ids).map((chunk) => {
        const pixels = new Float32Array(chunk.length * features);
        fillImageBatch(pixels, train, chunk);
        return { input: new ort.Tensor('float32', pixels, [chunk.length, features]) };
      });
      return { batches, samples: ids.length, unit: 'training images' };
    }
    case 'text': {
      const { blockSize } = config.model;
      const corpus = loadTextCorpus({ path: config.data.path, blockSize });
      if (readModelMetadata(modelBytes)['vocab'] !== JSON.stringify(corpus.vocab)) {
        throw new Error(`the vocabulary in the model differs from that of ${corpus.path}; pass the --config of the run that trained it`);
      }
      const ids = draw(windowStarts(corpus.train.length, blockSize), samples, seed);
      const batches = chunks(ids).map((starts) => {
        const inputs = new BigInt64Array(starts.length * blockSize);
        fillWindowBatch(inputs, new BigInt64Array(inputs.length), corpus.train, starts, blockSize);
        return { idx: new ort.Tensor('int64', inputs, [starts.length, blockSize]) };
      });
      return { batches, samples: ids.length, unit: `training windows of ${blockSize} characters` };
    }
    case 'spam': {
      const json = readModelMetadata(modelBytes)['tokenizer'];
      if (json === undefined) throw new Error("the model has no 'tokenizer' in its metadata, so it cannot encode the e-mails; pass an encoder that ringtrain exported");
      const data = loadSpamAssassin({ dir: config.data.path, seed: config.seed, testFraction: config.data.testFraction });
      const ids = draw(data.train.texts.length, samples, seed);
      const seqLen = config.model.blockSize;
      const encoded = WordTokenizer.fromJSON(json).encodeAll(Array.from(ids, (i) => data.train.texts[i]!), seqLen);
      const batches = chunks(Uint32Array.from(ids, (_, n) => n)).map((rows) => {
        const tokens = new BigInt64Array(rows.length * seqLen);
        fillTokenBatch(tokens, encoded, rows);
        return { idx: new ort.Tensor('int64', tokens, [rows.length, seqLen]) };
      });
      return { batches, samples: ids.length, unit: 'training e-mails' };
    }
  }
}

/** Returns the first `samples` ids of a permutation of `count` items fixed by `seed`. */
function draw(count: number, samples: number, seed: number): Uint32Array {
  return permutation(count, seed, RandomStream.calibration).slice(0, samples);
}

function chunks(ids: Uint32Array): Uint32Array[] {
  const out: Uint32Array[] = [];
  for (let start = 0; start < ids.length; start += CALIBRATION_BATCH) out.push(ids.subarray(start, start + CALIBRATION_BATCH));
  return out;
}
