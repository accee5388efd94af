import { onnx } from '@ringtrain/proto';
import * as ort from 'onnxruntime-node';
import { entropyThreshold, percentileRange, type CalibrationMethod, type TensorRange } from './calibration-methods.js';
import { Histogram } from './histogram.js';

/** One run's inputs, by input name: a batch of calibration samples. */
export type CalibrationBatch = Record<string, ort.Tensor>;

/** Options of {@link calibrateRanges}. */
export interface CalibrationOptions {
  /** @defaultValue 'minmax' */
  method?: CalibrationMethod;
  /** Percent of the values that the percentile method keeps, in (0, 100]. @defaultValue 99.99 */
  percentile?: number;
  /** Whether the range is symmetric around 0, as int8 activations with zero point 0 need. */
  symmetric: boolean;
  /** onnxruntime intra-op threads of the calibration runs. @defaultValue onnxruntime's default */
  threads?: number;
}

/** Smallest and largest finite value seen of one tensor. */
interface Extremes {
  min: number;
  max: number;
}

/**
 * Runs the model on every batch and returns the calibrated range of each named float32 tensor:
 * the min and max for 'minmax', or a range from a histogram of 2048 bins for 'percentile' and
 * 'entropy'. Asymmetric entropy ranges keep the minimum and cut only the upper tail. Histogram
 * methods run the batches twice, first for the extremes that fix the histogram's range, so that
 * every batch lands in the same bins. Non-finite values are ignored.
 *
 * @throws RangeError on an invalid percentile or an empty batch list
 * @throws Error when a tensor is not float32 or the model fails to run on a batch
 */
export async function calibrateRanges(
  bytes: Uint8Array,
  tensors: readonly string[],
  batches: readonly CalibrationBatch[],
  options: CalibrationOptions,
): Promise<Map<string, TensorRange>> {
  const method = options.method ?? 'minmax';
  const percentile = options.percentile ?? 99.99;
  if (!(percentile > 0 && percentile <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${percentile}`);
  if (batches.length === 0) throw new RangeError('no calibration batches; pass at least one batch of samples');
  const session = await ort.InferenceSession.create(withOutputs(bytes, tensors), sessionOptions(options.threads));
  try {
    // Pass 1: the extremes of every tensor.
    const extremes = new Map(tensors.map((t) => [t, { min: Infinity, max: -Infinity } as Extremes]));
    await forEachValues(session, tensors, batches, (name, values) => updateExtremes(extremes.get(name)!, values));
    if (method === 'minmax') return new Map(tensors.map((t) => [t, finiteRange(extremes.get(t)!)]));

    // Pass 2: histograms over those extremes, of |x| for symmetric ranges or of x.
    const absolute = options.symmetric;
    const histograms = new Map(
      tensors.map((t) => {
        const { min, max } = finiteRange(extremes.get(t)!);
        return [t, absolute ? new Histogram(0, Math.max(-min, max)) : new Histogram(min, max)];
      }),
    );
    await forEachValues(session, tensors, batches, (name, values) => histograms.get(name)!.add(values, absolute));
    return new Map(
      tensors.map((t) => {
        const hist = histograms.get(t)!;
        if (method === 'percentile') return [t, percentileRange(hist, percentile, options.symmetric)];
        if (options.symmetric) {
          const threshold = entropyThreshold(hist, 128);
          return [t, { min: -threshold, max: threshold }];
        }
        return [t, { min: hist.low, max: entropyThreshold(hist, 256) }];
      }),
    );
  } finally {
    await session.release();
  }
}

/** Returns the model with the named tensors added as graph outputs, unless they are inputs or outputs already. */
function withOutputs(bytes: Uint8Array, tensors: readonly string[]): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const present = new Set([...graph.input, ...graph.output].map((v) => v.name));
  for (const name of tensors) {
    if (present.has(name)) continue;
    graph.output.push(onnx.ValueInfoProto.fromPartial({ name, type: { tensorType: { elemType: onnx.TensorProto_DataType.FLOAT } } }));
  }
  return onnx.ModelProto.encode(model).finish();
}

function sessionOptions(threads: number | undefined): ort.InferenceSession.SessionOptions {
  return threads === undefined ? {} : { intraOpNumThreads: threads, interOpNumThreads: 1 };
}

/** Runs every batch and passes each named tensor's values to `visit`, reading graph inputs from the batch. */
async function forEachValues(
  session: ort.InferenceSession,
  tensors: readonly string[],
  batches: readonly CalibrationBatch[],
  visit: (name: string, values: Float32Array) => void,
): Promise<void> {
  const outputs = tensors.filter((t) => session.outputNames.includes(t));
  for (const [index, batch] of batches.entries()) {
    let results: ort.InferenceSession.OnnxValueMapType = {};
    try {
      if (outputs.length > 0) results = await session.run(batch, outputs);
    } catch (err) {
      throw new Error(`the model failed to run on calibration batch ${index}: ${(err as Error).message}`);
    }
    for (const name of tensors) {
      const value = results[name] ?? batch[name];
      if (value === undefined) throw new Error(`calibration produced no values for tensor '${name}'`);
      if (value.type !== 'float32') throw new Error(`tensor '${name}' is ${value.type}, not float32, so it cannot be quantised`);
      visit(name, value.data as Float32Array);
    }
  }
}

function updateExtremes(extremes: Extremes, values: Float32Array): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < extremes.min) extremes.min = v;
    if (v > extremes.max) extremes.max = v;
  }
}

/** Returns the extremes as a range, [0, 0] for a tensor without finite values. */
function finiteRange({ min, max }: Extremes): TensorRange {
  return min <= max && Number.isFinite(min) && Number.isFinite(max) ? { min, max } : { min: 0, max: 0 };
}
