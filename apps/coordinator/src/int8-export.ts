import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from '@ringtrain/config';
import type { Logger } from '@ringtrain/logging';
import { quantizeDynamic } from '@ringtrain/quantize';
import { evaluateExportedModel } from './evaluate-run.js';
import { writeFileAtomic, type RunDirectory } from './run-directory.js';

/** File name of the int8 model that a quantisation-aware run writes beside model.onnx. */
export const INT8_MODEL_FILE = 'model-int8.onnx';

/**
 * Writes model-int8.onnx, the dynamic int8 quantisation of a quantisation-aware run's
 * model.onnx, and evaluates it as model.onnx is evaluated. The file is what
 * `ringtrain quantize --mode dynamic` writes for the same model.onnx with the run's
 * quant.perChannel (`--per-tensor` when it is false), so it computes what the training graph
 * fake-quantised. Returns the summary keys `int8ModelBytes`, `int8TestAccuracy`,
 * `int8TestErrors` and `int8TestLoss`.
 */
export async function writeInt8Model(
  config: RunConfig,
  modelBytes: Uint8Array,
  runDir: RunDirectory,
  logger: Logger,
): Promise<Record<string, number>> {
  const { perChannel } = config.quant;
  const result = quantizeDynamic(modelBytes, { perChannel });
  for (const s of result.skipped) logger.info({ node: s.node, op: s.op, reason: s.reason }, `node left in float in ${INT8_MODEL_FILE}`);
  writeFileAtomic(join(runDir.path, INT8_MODEL_FILE), result.bytes);
  logger.info({ nodes: result.quantized.map((n) => n.node), perChannel, bytes: result.bytes.length }, `wrote ${INT8_MODEL_FILE}`);
  const metrics = await evaluateExportedModel(config, result.bytes, logger, INT8_MODEL_FILE);
  const summary: Record<string, number> = { int8ModelBytes: result.bytes.length };
  for (const [key, value] of Object.entries(metrics)) summary[`int8${key[0]!.toUpperCase()}${key.slice(1)}`] = value;
  return summary;
}

/**
 * Removes the model-int8.onnx that an earlier, quantisation-aware part of a resumed run wrote,
 * when the run now ends with quant.aware=false. The file would otherwise sit beside a model.onnx
 * that it no longer matches.
 */
export function removeStaleInt8Model(runDir: RunDirectory, logger: Logger): void {
  const path = join(runDir.path, INT8_MODEL_FILE);
  if (!existsSync(path)) return;
  rmSync(path);
  logger.info({ file: INT8_MODEL_FILE }, `removed the ${INT8_MODEL_FILE} of an earlier part of the run, because quant.aware is false now`);
}
