// Commands for ringtrain's `launch` and readers for the run directory it writes
// (summary.json and metrics.jsonl, as the run-directory contract defines them).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './stats.mjs';

export const CLI_PATH = 'apps/cli/bin/ringtrain.mjs';
export const MLP_CONFIG = 'examples/mnist-mlp.json';

/** Creates an empty runs directory for one launch under the system's temporary folder. */
export function createRunsDir() {
  return mkdtempSync(join(tmpdir(), 'ringtrain-bench-runs-'));
}

export function removeRunsDir(runsDir) {
  rmSync(runsDir, { recursive: true, force: true });
}

/**
 * Returns the `launch` arguments for `workers` local workers training `steps`
 * steps with `threads` onnxruntime threads each. `logEvery` overrides
 * train.logEvery when given (metrics.jsonl gets one record per logged step).
 */
export function launchArgs({ runsDir, workers, steps, threads, logEvery }) {
  const args = [
    CLI_PATH, 'launch',
    '--config', MLP_CONFIG,
    '--workers', String(workers),
    '--set', `train.steps=${steps}`,
    '--set', `cluster.threadsPerWorker=${threads}`,
  ];
  if (logEvery !== undefined) args.push('--set', `train.logEvery=${logEvery}`);
  args.push('--runs-dir', runsDir);
  return args;
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
  const summaryPath = join(runDir, 'summary.json');
  if (!existsSync(summaryPath)) throw new Error(`run finished without ${summaryPath}`);
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
  if (typeof summary.samplesPerSec !== 'number') throw new Error(`${summaryPath} has no numeric samplesPerSec`);
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
