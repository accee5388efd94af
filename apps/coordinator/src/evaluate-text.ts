import * as ort from 'onnxruntime-node';
import type { ClassifierEvaluation } from './evaluate-model.js';

/** Validation results of one exported language model. */
export interface LanguageModelEvaluation {
  /** Windows evaluated. */
  windows: number;
  /** Target tokens scored. */
  tokens: number;
  /** Mean cross-entropy in nats per token. */
  loss: number;
  /** Share of targets that are the argmax prediction. */
  accuracy: number;
}

function createSession(modelBytes: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(modelBytes, { intraOpNumThreads: threads, interOpNumThreads: 1 });
}

/** Adds the cross-entropy of `row` at `target` to `acc` and whether the argmax hit it. */
function score(row: Float32Array, target: number, acc: { loss: number; correct: number }): void {
  let best = 0;
  let max = -Infinity;
  for (let c = 0; c < row.length; c++) {
    if (row[c]! > max) {
      max = row[c]!;
      best = c;
    }
  }
  let sumExp = 0;
  for (let c = 0; c < row.length; c++) sumExp += Math.exp(row[c]! - max);
  acc.loss += Math.log(sumExp) + max - row[target]!;
  if (best === target) acc.correct++;
}

/**
 * Runs an exported language model (`idx` int64 [batch, seq] to `logits` [batch, seq, vocab])
 * over the windows of `tokens` that start at `starts`, each `blockSize` inputs with the next
 * tokens as targets, and returns the mean cross-entropy over every position.
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
      const out = await session.run({ idx: new ort.Tensor('int64', idx.subarray(0, n * blockSize), [n, blockSize]) });
      const logits = out['logits'];
      if (!logits) throw new Error(`model has no output 'logits' (outputs: ${session.outputNames.join(', ')})`);
      const vocab = logits.dims[2]!;
      const values = logits.data as Float32Array;
      for (let w = 0; w < n; w++) {
        const s = starts[first + w]!;
        for (let i = 0; i < blockSize; i++) {
          const row = values.subarray((w * blockSize + i) * vocab, (w * blockSize + i + 1) * vocab);
          score(row, tokens[s + i + 1]!, acc);
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
 * over pre-encoded rows `ids` [count, seq] and counts correct predictions.
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
      const out = await session.run({ idx: new ort.Tensor('int64', idx.subarray(0, n * seqLen), [n, seqLen]) });
      const logits = out['logits'];
      if (!logits) throw new Error(`model has no output 'logits' (outputs: ${session.outputNames.join(', ')})`);
      const classes = logits.dims[1]!;
      const values = logits.data as Float32Array;
      for (let i = 0; i < n; i++) score(values.subarray(i * classes, (i + 1) * classes), labels[first + i]!, acc);
    }
    return { count, correct: acc.correct, loss: count > 0 ? acc.loss / count : Number.NaN };
  } finally {
    await session.release();
  }
}
