import * as ort from 'onnxruntime-node';

/** Test-set results of one exported classifier. */
export interface ClassifierEvaluation {
  count: number;
  correct: number;
  /** Mean cross-entropy in nats. */
  loss: number;
}

/** Creates a session for scoring an exported model. */
export function createEvalSession(modelBytes: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(modelBytes, { intraOpNumThreads: threads, interOpNumThreads: 1 });
}

/**
 * Adds the cross-entropy of the logits `row` at class `target` to `acc.loss`, and increments
 * `acc.correct` when the argmax of `row` is `target`.
 */
export function scoreRow(row: Float32Array, target: number, acc: { loss: number; correct: number }): void {
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
 * Runs an exported `model.onnx` (input `input` float32 [batch, features],
 * output `logits` [batch, classes]) over a labelled set of uint8 images scaled
 * to [0, 1], and counts correct predictions.
 */
export async function evaluateClassifier(
  modelBytes: Uint8Array,
  images: Uint8Array,
  labels: Uint8Array,
  options: { features: number; batchSize?: number; threads?: number },
): Promise<ClassifierEvaluation> {
  const { features } = options;
  const batchSize = options.batchSize ?? 1000;
  const session = await createEvalSession(modelBytes, options.threads ?? 1);
  try {
    const count = labels.length;
    const acc = { loss: 0, correct: 0 };
    const input = new Float32Array(batchSize * features);
    for (let start = 0; start < count; start += batchSize) {
      const n = Math.min(batchSize, count - start);
      for (let i = 0; i < n * features; i++) input[i] = images[start * features + i]! / 255;
      const feeds = { input: new ort.Tensor('float32', input.subarray(0, n * features), [n, features]) };
      const out = await session.run(feeds);
      const logits = out['logits'];
      if (!logits) throw new Error(`model has no output 'logits' (outputs: ${session.outputNames.join(', ')}), so it is not a classifier export`);
      const classes = logits.dims[1]!;
      const values = logits.data as Float32Array;
      for (let i = 0; i < n; i++) scoreRow(values.subarray(i * classes, (i + 1) * classes), labels[start + i]!, acc);
    }
    return { count, correct: acc.correct, loss: count > 0 ? acc.loss / count : Number.NaN };
  } finally {
    await session.release();
  }
}
