import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { CheckpointError, decodeCheckpoint, type Checkpoint } from '@ringtrain/checkpoint';
import { readRunConfig, resolveRunConfig, type RunConfig } from '@ringtrain/config';
import { RunDirectory, newRunId } from '@ringtrain/coordinator';
import { readRunData, totalSteps } from './run-data.js';
import { UsageError } from './args.js';

/** The config, run directory and resume point of a run about to start. */
export interface RunSetup {
  config: RunConfig;
  runId: string;
  runDir: RunDirectory;
  resumeCheckpoint?: string;
  resumeStep?: number;
  /** Problems met on the way that did not stop the run, such as a skipped corrupt checkpoint. */
  warnings: string[];
}

/**
 * Resolves the effective config and the run directory. A fresh run gets a new
 * id under `runsDir`. A resumed run reuses its directory, its saved config
 * (unless `--config` is given) and its newest valid checkpoint.
 */
export function prepareRun(options: { config?: string; resume?: string; runsDir: string; overrides: string[] }): RunSetup {
  if (options.resume) return prepareResume(options.resume, options.config, options.overrides);
  if (!options.config) throw new UsageError('missing --config FILE (or --resume RUN_DIR)');
  const config = readRunConfig(options.config, options.overrides);
  const runId = newRunId();
  return { config, runId, runDir: RunDirectory.create(options.runsDir, runId), warnings: unusedKeyWarnings(config) };
}

/** Returns a warning for each set key that has no effect without another one. */
function unusedKeyWarnings(config: RunConfig): string[] {
  const warnings: string[] = [];
  if (config.init.blocks !== undefined && config.init.from === undefined) {
    warnings.push('init.blocks is set but init.from is not, so the run starts from its seed and init.blocks has no effect');
  }
  const { teacher, hiddenStudent, hiddenTeacher } = config.distill;
  if (teacher === undefined && (hiddenStudent.length > 0 || hiddenTeacher.length > 0)) {
    warnings.push('distill.hiddenStudent and distill.hiddenTeacher have no effect without distill.teacher');
  }
  return warnings;
}

function prepareResume(resume: string, configPath: string | undefined, overrides: string[]): RunSetup {
  const dir = resolve(resume);
  const saved = join(dir, 'config.json');
  if (!existsSync(saved)) {
    throw new UsageError(`--resume ${resume}: no config.json there; pass the folder of an earlier run (runs/<run-id>)`);
  }
  const config = configPath
    ? readRunConfig(configPath, overrides)
    : resolveRunConfig(JSON.parse(readFileSync(saved, 'utf8')), overrides);
  const runDir = new RunDirectory(dir);
  const warnings: string[] = [];
  const found = newestValidCheckpoint(runDir, warnings);
  if (!found) {
    throw new UsageError(`--resume ${resume}: no valid checkpoint in ${join(dir, 'checkpoints')}; the run cannot be resumed`);
  }
  checkResumable(config, found.checkpoint, found.name);
  return { config, runId: basename(dir), runDir, resumeCheckpoint: found.name, resumeStep: found.checkpoint.step, warnings };
}

/** Finds the newest checkpoint that decodes, skipping corrupt newer ones with a warning. */
function newestValidCheckpoint(runDir: RunDirectory, warnings: string[]): { name: string; checkpoint: Checkpoint } | undefined {
  for (const name of runDir.checkpoints().reverse()) {
    try {
      return { name, checkpoint: decodeCheckpoint(readFileSync(runDir.resolveArtifact(name)), name) };
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      warnings.push(`skipping ${name}: ${err.message}`);
    }
  }
  return undefined;
}

/**
 * Checks that the resumed config fits the checkpoint (model size, optimiser, steps left) before
 * anything in the run directory is written, so a bad `--set` leaves the run resumable.
 */
function checkResumable(config: RunConfig, checkpoint: Checkpoint, name: string): void {
  const data = readRunData(config);
  const saved = checkpoint.state['dataFingerprint'];
  if (saved !== undefined && saved !== data.fingerprint) {
    throw new UsageError(
      `${name} was trained on other data than ${config.data.path ?? `the default ${config.data.name} data`} ` +
        '(its data fingerprint differs); resume with the data.path of the run',
    );
  }
  const expected = data.trainingParameters;
  const found = checkpoint.tensors['parameters']?.length ?? 0;
  if (found !== expected) {
    const projections = expected === data.parameters ? '' : ` (${data.parameters} in the model and ${expected - data.parameters} in hidden-state projections)`;
    throw new UsageError(
      `${name} contains ${found} parameters but the ${config.model.kind} model of the config has ${expected}${projections}; ` +
        "resume with the run's model and distill config",
    );
  }
  const optimizer = String(checkpoint.state['optimizer'] ?? '');
  if (optimizer !== config.optim.name) {
    throw new UsageError(`${name} contains ${optimizer} optimiser state but optim.name is ${config.optim.name}; resume with optim.name=${optimizer}`);
  }
  const steps = totalSteps(config, data.trainItems);
  if (steps <= checkpoint.step) {
    const key = config.train.steps !== undefined ? `train.steps is ${config.train.steps}` : `train.epochs ${config.train.epochs} ends at step ${steps}`;
    throw new UsageError(`${name} is already at step ${checkpoint.step} and ${key}; raise it to train further`);
  }
}
