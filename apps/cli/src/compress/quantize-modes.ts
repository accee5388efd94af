import type { Logger } from '@ringtrain/logging';
import { convertToFloat16, quantizeDynamic, quantizeStatic } from '@ringtrain/quantize';
import { UsageError } from '../args.js';
import { calibrationSample } from './calibration-data.js';
import type { SourceRun } from './model-row.js';
import type { QuantizeRequest } from './quantize-options.js';

/** A compressed model and the lines that describe it. */
export interface ModeResult {
  bytes: Uint8Array;
  /** Number format of the new model, for the measurement line: 'int8' or 'float16'. */
  format: string;
  lines: string[];
}

/** Inputs of a mode besides the request: the model, its run and the logger. */
export interface ModeContext {
  modelPath: string;
  bytes: Uint8Array;
  source: SourceRun | undefined;
  threads: number;
  logger: Logger;
}

/**
 * Writes the compressed model of `request.mode` and logs every node or weight left in float32
 * with the reason.
 *
 * @throws UsageError when the model cannot be compressed in that mode or, for static
 *   quantisation, has no run config to calibrate with
 */
export async function compressModel(request: QuantizeRequest, context: ModeContext): Promise<ModeResult> {
  try {
    if (request.mode === 'float16') return toFloat16(request, context);
    if (request.mode === 'static') return await toStaticInt8(request, context);
    return toDynamicInt8(request, context);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot quantise ${context.modelPath}: ${(err as Error).message}`);
  }
}

function granularity(request: QuantizeRequest): string {
  return request.perChannel ? 'per channel' : 'per tensor';
}

function toDynamicInt8(request: QuantizeRequest, { modelPath, bytes, logger }: ModeContext): ModeResult {
  const result = quantizeDynamic(bytes, request);
  for (const s of result.skipped) logger.info({ node: s.node, op: s.op, reason: s.reason }, 'node left in float');
  if (result.quantized.length === 0) throw new UsageError(`${modelPath} has no MatMul or Gemm node with a stored weight to quantise`);
  return {
    bytes: result.bytes,
    format: 'int8',
    lines: [
      `quantised ${result.quantized.length} nodes to int8 (${granularity(request)}): ${result.quantized.map((n) => n.node).join(', ')}`,
      `left in float: ${result.skipped.length === 0 ? 'none' : result.skipped.map((s) => s.node).join(', ')}`,
    ],
  };
}

async function toStaticInt8(request: QuantizeRequest, { modelPath, bytes, source, threads, logger }: ModeContext): Promise<ModeResult> {
  if (source === undefined) {
    throw new UsageError(`--mode static calibrates on the run's training data, but there is no config.json beside ${modelPath}; pass --config FILE`);
  }
  const calibration = request.calibration!;
  const seed = calibration.seed ?? source.config.seed;
  const sample = calibrationSample(source.config, bytes, calibration.samples, seed);
  logger.info({ samples: sample.samples, unit: sample.unit, seed, method: calibration.method }, 'calibrating activations');
  const result = await quantizeStatic(bytes, sample.batches, {
    ...request,
    method: calibration.method,
    percentile: calibration.percentile,
    activations: calibration.activations,
    threads,
  });
  for (const s of result.skipped) logger.info({ node: s.node, op: s.op, reason: s.reason }, 'node left in float');
  if (result.quantized.length === 0) {
    throw new UsageError(`${modelPath} has no MatMul, Gemm or Conv node that onnxruntime runs in int8 after static quantisation; the log names each node's reason`);
  }
  const activations = calibration.activations === 'asymmetric' ? 'uint8 asymmetric' : 'int8 symmetric';
  const method = calibration.method === 'percentile' ? `percentile ${calibration.percentile}` : calibration.method;
  return {
    bytes: result.bytes,
    format: 'int8',
    lines: [
      `quantised ${result.quantized.length} nodes to int8 (static, ${request.perChannel ? 'per-channel' : 'per-tensor'} weights, ${activations} activations): ` +
        result.quantized.map((n) => n.node).join(', '),
      `calibration: ${method} on ${sample.samples} ${sample.unit}, seed ${seed}`,
      `left in float: ${result.skipped.length === 0 ? 'none' : result.skipped.map((s) => s.node).join(', ')}`,
    ],
  };
}

function toFloat16(request: QuantizeRequest, { modelPath, bytes, logger }: ModeContext): ModeResult {
  const result = convertToFloat16(bytes, request);
  for (const k of result.kept) logger.info({ weight: k.name, reason: k.reason }, 'weight kept in float32');
  if (result.converted.length === 0) throw new UsageError(`${modelPath} has no float32 weight to store as float16`);
  const maxError = Math.max(...result.converted.map((w) => w.maxError));
  return {
    bytes: result.bytes,
    format: 'float16',
    lines: [
      `stored ${result.converted.length} weights as float16 (largest rounding error ${maxError.toExponential(2)})`,
      `kept in float32: ${result.kept.length === 0 ? 'none' : result.kept.map((k) => k.name).join(', ')}`,
    ],
  };
}
