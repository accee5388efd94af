import * as ort from 'onnxruntime-node';

/** Runs a model once in a new session and returns its first output tensor. */
export async function firstOutput(
  bytes: Uint8Array,
  feeds: Record<string, ort.Tensor>,
  level: 'all' | 'disabled' = 'all',
): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level });
  try {
    const out = await session.run(feeds);
    return out[session.outputNames[0]!]!;
  } finally {
    await session.release();
  }
}

/** Runs a model once in a new session and returns the values of its first output, a float32 tensor. */
export async function runModel(bytes: Uint8Array, feeds: Record<string, ort.Tensor>, level: 'all' | 'disabled' = 'all'): Promise<Float32Array> {
  return (await firstOutput(bytes, feeds, level)).data as Float32Array;
}

/** Returns the largest difference between two outputs, relative to the largest magnitude of `want`. */
export function relativeError(got: Float32Array, want: Float32Array): number {
  let diff = 0;
  let scale = 0;
  want.forEach((w, i) => {
    diff = Math.max(diff, Math.abs(got[i]! - w));
    scale = Math.max(scale, Math.abs(w));
  });
  return diff / scale;
}
