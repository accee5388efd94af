import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { readRunConfig, resolveRunConfig, type RunConfig } from '@ringtrain/config';
import { RunDirectory, newRunId, verifyCheckpoint } from '@ringtrain/coordinator';
import { UsageError } from './args.js';

/** The config, run directory and resume point of a run about to start. */
export interface RunSetup {
  config: RunConfig;
  runId: string;
  runDir: RunDirectory;
  resumeCheckpoint?: string;
  resumeStep?: number;
}

/**
 * Resolves the effective config and the run directory: a fresh run gets a new
 * id under `runsDir`; a resumed run reuses its directory, its saved config
 * (unless `--config` is given) and its newest checkpoint.
 */
export function prepareRun(options: { config?: string; resume?: string; runsDir: string; overrides: string[] }): RunSetup {
  if (options.resume) {
    const dir = resolve(options.resume);
    const saved = join(dir, 'config.json');
    if (!existsSync(saved)) {
      throw new UsageError(`--resume ${options.resume}: no config.json there; pass the folder of an earlier run (runs/<run-id>)`);
    }
    const config = options.config
      ? readRunConfig(options.config, options.overrides)
      : resolveRunConfig(JSON.parse(readFileSync(saved, 'utf8')), options.overrides);
    const runDir = new RunDirectory(dir);
    const checkpoint = runDir.latestCheckpoint();
    if (!checkpoint) {
      throw new UsageError(`--resume ${options.resume}: no checkpoint in ${join(dir, 'checkpoints')}; the run cannot be resumed`);
    }
    const { step } = verifyCheckpoint(runDir, checkpoint);
    return { config, runId: basename(dir), runDir, resumeCheckpoint: checkpoint, resumeStep: step };
  }
  if (!options.config) throw new UsageError('missing --config FILE (or --resume RUN_DIR)');
  const config = readRunConfig(options.config, options.overrides);
  const runId = newRunId();
  return { config, runId, runDir: RunDirectory.create(options.runsDir, runId) };
}
