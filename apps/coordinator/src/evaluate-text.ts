import * as ort from 'onnxruntime-node';
import { createEvalSession as createSession, scoreRow, type ClassifierEvaluation } from './evaluate-model.js';

/** Validation results of one exported language model. */
export interface LanguageModelEvaluation {
  /** Number of windows evaluated. */
  windows: number;
  /** Number of target tokens scored. */
  tokens: number;
  /** Mean cross-entropy in nats per token. */
  loss: number;
  /** Fraction of targets that equal the argmax prediction. */
  accuracy: number;
}

/**
 * Runs an exported language model (`idx` int64 [batch, seq] to `logits` [batch, seq, vocab])
 * over the windows of `tokens` that start at `starts`. Each window has `blockSize` inputs, and
 * the targets are the same tokens shifted by one. Returns the mean cross-entropy and the accuracy
 * over every position, which are NaN when `starts` is empty.
 */
export async function evaluateLanguageModel(
  modelBytes: Uint8Array,
  tokens: Int32Array,
  starts: Uint32Array,
  options: { blockSize: number; batchSize?: number; threads?: number },
): Promise<LanguageModelEvaluation> {
  const { blockSize } = options;
  const batchSize = options.batchSize ?? 64;
  const session = await createSession(modelBytes, options.threads ?? 1);
  try {
    const idx = new BigInt64Array(batchSize * blockSize);
    const acc = { loss: 0, correct: 0 };
    for (let first = 0; first < starts.length; first += batchSize) {
      const n = Math.min(batchSize, starts.length - first);
      for (let w = 0; w < n; w++) {
        const s = starts[first + w]!;
        for (let i = 0; i < blockSize; i++) idx[w * blockSize + i] = BigInt(tokens[s + i]!);
      }
      const input = new ort.Tensor('int64', idx.subarray(0, n * blockSize), [n, blockSize]);
      const out = await session.run({ idx: input });
      const logits = out['logits'];
      if (!logits) {
        throw new Error(
          `model has no output 'logits' (outputs: ${session.outputNames.join(', ')}), ` +
            'so it is not a language model export',
        );
      }
      const vocab = logits.dims[2]!;
      const values = logits.data as Float32Array;
      for (let w = 0; w < n; w++) {
        const s = starts[first + w]!;
        for (let i = 0; i < blockSize; i++) {
          const row = values.subarray((w * blockSize + i) * vocab, (w * blockSize + i + 1) * vocab);
          scoreRow(row, tokens[s + i + 1]!, acc);
        }
      }
    }
    const count = starts.length * blockSize;
    return { windows: starts.length, tokens: count, loss: acc.loss / count, accuracy: acc.correct / count };
  } finally {
    await session.release();
  }
}

/**
 * Runs an exported sequence classifier (`idx` int64 [batch, seq] to `logits` [batch, classes])
 * over the pre-encoded rows `ids` [count, seq]. Returns the number of correct predictions and the
 * mean cross-entropy, which is NaN when there are no rows.
 */
export async function evaluateSequenceClassifier(
  modelBytes: Uint8Array,
  ids: Int32Array,
  labels: Uint8Array,
  options: { seqLen: number; batchSize?: number; threads?: number },
): Promise<ClassifierEvaluation> {
  const { seqLen } = options;
  const batchSize = options.batchSize ?? 64;
  const session = await createSession(modelBytes, options.threads ?? 1);
  try {
    const idx = new BigInt64Array(batchSize * seqLen);
    const acc = { loss: 0, correct: 0 };
    const count = labels.length;
    for (let first = 0; first < count; first += batchSize) {
      const n = Math.min(batchSize, count - first);
      for (let i = 0; i < n * seqLen; i++) idx[i] = BigInt(ids[first * seqLen + i]!);
      const input = new ort.Tensor('int64', idx.subarray(0, n * seqLen), [n, seqLen]);
      const out = await session.run({ idx: input });
      const logits = out['logits'];
      if (!logits) {
        throw new Error(
          `model has no output 'logits' (outputs: ${session.outputNames.join(', ')}), ` +
            'so it is not a classifier export',
        );
      }
      const classes = logits.dims[1]!;
      const values = logits.data as Float32Array;
      for (let i = 0; i < n; i++) {
        scoreRow(values.subarray(i * classes, (i + 1) * classes), labels[first + i]!, acc);
      }
    }
    return { count, correct: acc.correct, loss: count > 0 ? acc.loss / count : Number.NaN };
  } finally {
    await session.release();
  }
}
