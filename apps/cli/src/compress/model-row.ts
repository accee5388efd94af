import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { resolveRunConfig, type RunConfig } from '@ringtrain/config';
import { evaluateExportedModel } from '@ringtrain/coordinator';
import { readModelMetadata } from '@ringtrain/graph';
import type { Logger } from '@ringtrain/logging';
import { UsageError } from '../args.js';
import { measureModel } from '../pipeline/measure-model.js';
import type { ReportRow } from '../pipeline/report.js';
import { checkModelFitsRun } from './model-fit.js';

/** The run a model.onnx came from: its config (for the data) and its summary, when present. */
export interface SourceRun {
  config: RunConfig;
  /** Path of the config file, for messages. */
  configPath: string;
  /** The numbers of the run's summary.json, or none when it is missing or describes another file. */
  summary: Record<string, number>;
  /** Path of a summary.json that was left out because it describes another model file of the run. */
  otherModelSummary?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the numbers of a run's summary.json, or returns undefined when there is none. */
function readSummary(path: string): Record<string, number> | undefined {
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read the run summary ${path}: ${(err as Error).message}; restore it or move the model out of the run directory`);
  }
  if (!isObject(parsed)) throw new UsageError(`the run summary ${path} is not a JSON object; restore it or move the model out of the run directory`);
  return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, number] => typeof entry[1] === 'number' && Number.isFinite(entry[1])));
}

/**
 * Returns whether a run's summary describes the model file: the run's model.onnx, or the
 * model-int8.onnx of a quantisation-aware run, recognised by their sizes in bytes.
 * NOTE: another file of exactly the same size, such as a copy grown to the same widths, passes.
 */
function summaryDescribes(summary: Record<string, number>, modelPath: string, modelBytes: number): boolean {
  const sizes = [summary['modelBytes'], summary['int8ModelBytes']].filter((size) => size !== undefined);
  // Summaries without sizes come from older runs, whose only model file is model.onnx.
  return sizes.length === 0 ? basename(modelPath) === 'model.onnx' : sizes.includes(modelBytes);
}

/**
 * Reads the run config that evaluates a model: `--config FILE` when given, else the config.json
 * beside the model, as in a run directory. Returns undefined when there is neither. The
 * summary.json beside the model counts only when it describes that file.
 *
 * @throws UsageError when a file cannot be read, is not a valid run config or summary, or the
 *   config is for another kind or shape of model
 */
export function readSourceRun(modelPath: string, configPath: string | undefined, modelBytes: Uint8Array): SourceRun | undefined {
  const dir = dirname(modelPath);
  const file = configPath ?? join(dir, 'config.json');
  if (!existsSync(file)) {
    if (configPath !== undefined) throw new UsageError(`--config ${configPath} not found`);
    return undefined;
  }
  let config: RunConfig;
  try {
    config = resolveRunConfig(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new UsageError(`cannot read the run config ${file}: ${(err as Error).message}`);
  }
  let metadata: Record<string, string>;
  try {
    metadata = readModelMetadata(modelBytes);
  } catch (err) {
    throw new UsageError(`cannot read --model ${modelPath}: ${(err as Error).message}`);
  }
  checkModelFitsRun(modelPath, modelBytes, metadata, config, file);

  const summaryPath = join(dir, 'summary.json');
  const summary = readSummary(summaryPath);
  if (summary === undefined) return { config, configPath: file, summary: {} };
  if (summaryDescribes(summary, modelPath, modelBytes.length)) return { config, configPath: file, summary };
  return { config, configPath: file, summary: {}, otherModelSummary: summaryPath };
}

/**
 * Evaluates a model on its run's held-out data and measures its speed, as one report row.
 * `parameters` is the parameter count of the model the row stands for.
 */
export async function measureRow(
  name: string,
  bytes: Uint8Array,
  source: SourceRun,
  parameters: number,
  threads: number,
  logger: Logger,
): Promise<ReportRow> {
  let metrics: Record<string, number>;
  try {
    metrics = await evaluateExportedModel(source.config, bytes, logger, `model '${name}'`);
  } catch (err) {
    throw new UsageError(
      `cannot evaluate the model '${name}' on the data of the run config ${source.configPath}: ${(err as Error).message}; ` +
        'pass --config FILE with the config.json of the run that trained --model',
    );
  }
  const speed = await measureModel(bytes, { threads, blockSize: source.config.model.blockSize });
  const row: ReportRow = {
    name,
    parameters,
    modelBytes: bytes.length,
    latencyMsBatch1: speed.latencyMsBatch1,
    samplesPerSecBatch256: speed.samplesPerSecBatch256,
  };
  for (const key of ['testAccuracy', 'testErrors', 'valLoss'] as const) if (metrics[key] !== undefined) row[key] = metrics[key];
  if (speed.tokensPerSec !== undefined) row.tokensPerSec = speed.tokensPerSec;
  return row;
}
