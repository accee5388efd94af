import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { resolveRunConfig, type RunConfig } from '@ringtrain/config';
import { evaluateExportedModel } from '@ringtrain/coordinator';
import type { Logger } from '@ringtrain/logging';
import { UsageError } from '../args.js';
import { measureModel } from '../pipeline/measure-model.js';
import type { ReportRow } from '../pipeline/report.js';

/** The run a model.onnx came from: its config (for the data) and its summary, when present. */
export interface SourceRun {
  config: RunConfig;
  summary: Record<string, number>;
}

/**
 * Reads the run config that evaluates a model: `--config FILE` when given, else the config.json
 * beside the model, as in a run directory. Returns undefined when there is neither.
 *
 * @throws UsageError when a file cannot be read or is not a valid run config
 */
export function readSourceRun(modelPath: string, configPath: string | undefined): SourceRun | undefined {
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
  const summaryPath = join(dir, 'summary.json');
  const summary = existsSync(summaryPath) ? (JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, number>) : {};
  return { config, summary };
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
  const metrics = await evaluateExportedModel(source.config, bytes, logger);
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
