// Commands for ringtrain's `launch` and readers for the run directory it writes
// (summary.json and metrics.jsonl, as the run-directory contract defines them).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './stats.mjs';

export const CLI_PATH = 'apps/cli/bin/ringtrain.mjs';
export const MLP_CONFIG = 'examples/mnist-mlp.json';
export const GPT_CONFIG = 'examples/nanogpt-shakespeare-char.json';

// Defaults of char_gpt.py that the gpt stage's ringtrain config must also use.
const GPT_PEER_DEFAULTS = [
  ['optim.name', 'adamw'],
  ['optim.betas', [0.9, 0.99]],
  ['optim.weightDecay', 0.1],
  ['optim.clipNorm', 1.0],
  ['schedule.name', 'cosine'],
  ['model.dropout', 0],
  ['model.tieEmbeddings', true],
];

/** Creates an empty runs directory for one launch under the system's temporary folder. */
export function createRunsDir() {
  return mkdtempSync(join(tmpdir(), 'ringtrain-bench-runs-'));
}

export function removeRunsDir(runsDir) {
  rmSync(runsDir, { recursive: true, force: true });
}

/**
 * Returns the `launch` arguments for `workers` local workers training `steps`
 * steps of `config` with `threads` onnxruntime threads each. `logEvery`
 * overrides train.logEvery when given (metrics.jsonl gets one record per
 * logged step), and each `overrides` entry ('key=value') adds one --set.
 */
export function launchArgs({ runsDir, workers, steps, threads, logEvery, config = MLP_CONFIG, overrides = [] }) {
  const args = [
    CLI_PATH, 'launch',
    '--config', config,
    '--workers', String(workers),
    '--set', `train.steps=${steps}`,
    '--set', `cluster.threadsPerWorker=${threads}`,
  ];
  if (logEvery !== undefined) args.push('--set', `train.logEvery=${logEvery}`);
  for (const assignment of overrides) args.push('--set', assignment);
  args.push('--runs-dir', runsDir);
  return args;
}

/**
 * Returns the `--set` overrides of a gpt stage launch: train on `textFile`,
 * evaluate and write a checkpoint only at the end, and warm up for 100 steps
 * like the peer, or for all of them when `steps` is under 100.
 */
export function gptOverrides({ textFile, steps }) {
  return [
    `data.path=${textFile}`,
    'train.evalEvery=0',
    'checkpoint.everySteps=0',
    `schedule.warmupSteps=${Math.min(100, steps)}`,
  ];
}

/**
 * Reads the model shape, batch size and learning rate of the GPT config at
 * `configPath`, which the peer gets as flags. Raises when a field is missing
 * or when the config departs from a char_gpt.py default that the peer keeps.
 */
export function readGptShape(configPath) {
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  const valueAt = (path) => path.split('.').reduce((node, key) => node?.[key], config);
  const shapePaths = {
    nLayer: 'model.nLayer',
    nHead: 'model.nHead',
    nEmbd: 'model.nEmbd',
    blockSize: 'model.blockSize',
    batchSize: 'train.batchSize',
    lr: 'optim.lr',
  };
  const shape = Object.fromEntries(Object.entries(shapePaths).map(([key, path]) => [key, valueAt(path)]));
  const missing = Object.entries(shapePaths).filter(([key]) => typeof shape[key] !== 'number').map(([, path]) => path);
  if (missing.length > 0) throw new Error(`${configPath}: missing or non-numeric ${missing.join(', ')}`);
  for (const [path, expected] of GPT_PEER_DEFAULTS) {
    const value = valueAt(path);
    if (JSON.stringify(value) !== JSON.stringify(expected)) {
      throw new Error(`${configPath}: ${path} is ${JSON.stringify(value)}, but char_gpt.py trains with ${JSON.stringify(expected)}`);
    }
  }
  const minLr = config.schedule?.minLr;
  if (typeof minLr !== 'number' || Math.abs(minLr - shape.lr / 10) > 1e-12) {
    throw new Error(`${configPath}: schedule.minLr is ${minLr}, but char_gpt.py decays to lr / 10 = ${shape.lr / 10}`);
  }
  return shape;
}

/** Returns the one run directory that a launch created in a fresh `runsDir`; raises otherwise. */
export function findRunDir(runsDir) {
  const entries = existsSync(runsDir) ? readdirSync(runsDir, { withFileTypes: true }).filter((e) => e.isDirectory()) : [];
  if (entries.length !== 1) {
    throw new Error(`expected exactly one run directory in ${runsDir}, found ${entries.length}`);
  }
  return join(runsDir, entries[0].name);
}

/**
 * Reads a finished run: samples/s from summary.json, and the medians over the
 * logged steps of computeMs, allreduceMs and optimizerMs from metrics.jsonl.
 * The first logged step is left out of the medians when there are more than
 * two, because it includes warm-up.
 */
export function readRunFigures(runDir) {
  const summary = readSummary(runDir, 'samplesPerSec');
  const figures = {
    runId: summary.runId,
    worldSize: summary.worldSize,
    steps: summary.steps,
    samplesPerSec: summary.samplesPerSec,
    wallSeconds: summary.wallSeconds,
    testErrors: summary.testErrors,
    testAccuracy: summary.testAccuracy,
  };
  const metricsPath = join(runDir, 'metrics.jsonl');
  if (existsSync(metricsPath)) {
    const records = readFileSync(metricsPath, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line));
    const steady = records.length > 2 ? records.slice(1) : records;
    figures.loggedSteps = records.length;
    for (const key of ['computeMs', 'allreduceMs', 'optimizerMs']) {
      const values = steady.map((r) => r[key]).filter((v) => typeof v === 'number');
      if (values.length > 0) figures[key] = median(values);
    }
    if (figures.computeMs > 0 && figures.allreduceMs !== undefined) {
      figures.allreduceOverCompute = figures.allreduceMs / figures.computeMs;
    }
  }
  return figures;
}

/**
 * Reads a finished gpt run from summary.json: tokens/s over the time of the
 * training steps, and the mean computeMs, allreduceMs and optimizerMs per step.
 */
export function readGptRunFigures(runDir) {
  const summary = readSummary(runDir, 'tokensPerSec');
  const phases = [summary.computeMs, summary.allreduceMs, summary.optimizerMs];
  return {
    runId: summary.runId,
    worldSize: summary.worldSize,
    steps: summary.steps,
    tokensPerSec: summary.tokensPerSec,
    samplesPerSec: summary.samplesPerSec,
    computeMs: summary.computeMs,
    allreduceMs: summary.allreduceMs,
    optimizerMs: summary.optimizerMs,
    msPerStep: phases.every((v) => typeof v === 'number') ? phases.reduce((a, b) => a + b, 0) : undefined,
    valLoss: summary.valLoss,
    wallSeconds: summary.wallSeconds,
  };
}

/** Parses the summary.json of `runDir`. Raises when it is missing or lacks a numeric `requiredKey`. */
function readSummary(runDir, requiredKey) {
  const summaryPath = join(runDir, 'summary.json');
  if (!existsSync(summaryPath)) throw new Error(`run finished without ${summaryPath}`);
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
  if (typeof summary[requiredKey] !== 'number') throw new Error(`${summaryPath} has no numeric ${requiredKey}`);
  return summary;
}
