import * as ort from 'onnxruntime-node';

/** Inference speed of one model.onnx on this machine. */
export interface ModelSpeed {
  /** Median time of one run at batch 1, in ms. */
  latencyMsBatch1: number;
  /** Samples per second at batch 256, from the median time of one run. */
  samplesPerSecBatch256: number;
  /** For language models: tokens per second at batch 256 (samples x sequence length). */
  tokensPerSec?: number;
  threads: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Builds an input batch of `n` samples for the model's only input: zeros of its type and sample shape. */
export function inputBatch(meta: ort.InferenceSession.ValueMetadata, n: number, seq: number | undefined): ort.Tensor {
  if (!meta.isTensor) throw new Error(`input '${meta.name}' is not a tensor`);
  const sample = meta.shape.slice(1).map((d) => (typeof d === 'number' ? d : (seq ?? 1)));
  const size = n * sample.reduce((a, b) => a * b, 1);
  return meta.type === 'int64'
    ? new ort.Tensor('int64', new BigInt64Array(size), [n, ...sample])
    : new ort.Tensor('float32', new Float32Array(size), [n, ...sample]);
}

async function timeRuns(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, runs: number): Promise<number> {
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await session.run(feeds);
    times.push(performance.now() - started);
  }
  return median(times);
}

/**
 * Measures an exported model: the median latency of `runs1` runs at batch 1 and the throughput
 * of `runs256` runs at batch 256. A language model (input `idx`) runs full windows of
 * `blockSize` tokens.
 */
export async function measureModel(bytes: Uint8Array, options: { threads: number; blockSize?: number; runs1?: number; runs256?: number }): Promise<ModelSpeed> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: options.threads, interOpNumThreads: 1 });
  try {
    const meta = session.inputMetadata[0]!;
    const seq = meta.name === 'idx' ? options.blockSize : undefined;
    const batchOneMs = await timeRuns(session, { [meta.name]: inputBatch(meta, 1, seq) }, options.runs1 ?? 200);
    const batch256Ms = await timeRuns(session, { [meta.name]: inputBatch(meta, 256, seq) }, options.runs256 ?? 20);
    const speed: ModelSpeed = { latencyMsBatch1: batchOneMs, samplesPerSecBatch256: (256 / batch256Ms) * 1000, threads: options.threads };
    if (seq !== undefined) speed.tokensPerSec = speed.samplesPerSecBatch256 * seq;
    return speed;
  } finally {
    await session.release();
  }
}
