// Commands for the PyTorch peer scripts (mnist_mlp.py, mnist_ddp.py,
// allreduce_bench.py, char_gpt.py) and readers for the JSON object each prints last.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The peer script that each stage runs. */
export const STAGE_PEER_SCRIPTS = {
  mlp: 'mnist_mlp.py',
  ddp: 'mnist_ddp.py',
  allreduce: 'allreduce_bench.py',
  gpt: 'char_gpt.py',
};

/** Raises when `peersDir` lacks the script of one of `stages`. */
export function checkPeersDir(peersDir, stages) {
  const missing = stages.map((stage) => STAGE_PEER_SCRIPTS[stage]).filter((name) => !existsSync(join(peersDir, name)));
  if (missing.length > 0) {
    throw new Error(`--peers ${peersDir}: missing ${missing.join(', ')}; pass the folder that contains the PyTorch peer scripts`);
  }
}

/**
 * Returns the mnist_mlp.py arguments for one worker's run: the small MLP,
 * SGD, batch `batchSize`, one epoch over the first steps × batchSize training
 * images, so that it trains exactly `steps` steps like the ringtrain run.
 */
export function mlpPeerArgs(peersDir, { idxDir, steps, batchSize, threads }) {
  return [
    join(peersDir, 'mnist_mlp.py'),
    '--model', 'small',
    '--opt', 'sgd',
    '--lr', '0.05',
    '--momentum', '0.9',
    '--batch-size', String(batchSize),
    '--threads', String(threads),
    '--epochs', '1',
    '--train-limit', String(steps * batchSize),
    '--idx-dir', idxDir,
    '--quiet',
  ];
}

/** Returns the mnist_ddp.py arguments for `worldSize` ranks on `steps` global batches, with --time-allreduce when `timed`. */
export function ddpPeerArgs(peersDir, { idxDir, steps, batchSize, worldSize, timed }) {
  const args = [
    join(peersDir, 'mnist_ddp.py'),
    '--world-size', String(worldSize),
    '--global-batch', String(batchSize),
    '--threads-per-rank', '1',
    '--epochs', '1',
    '--train-limit', String(steps * batchSize),
    '--idx-dir', idxDir,
    '--quiet',
  ];
  if (timed) args.push('--time-allreduce');
  return args;
}

/** Returns the allreduce_bench.py arguments for gloo at the given sizes (MiB) and world sizes. */
export function allreducePeerArgs(peersDir, { sizesMiB, worldSizes, iters, warmup }) {
  return [
    join(peersDir, 'allreduce_bench.py'),
    '--sizes-mb', sizesMiB.join(','),
    '--world-sizes', worldSizes.join(','),
    '--iters', String(iters),
    '--warmup', String(warmup),
    '--threads-per-rank', '1',
    '--quiet',
  ];
}

/**
 * Returns the char_gpt.py arguments for `steps` training iterations of the GPT
 * `shape` (from the ringtrain config, see readGptShape) on `textFile`. The
 * peer keeps its defaults otherwise: 100 warm-up iterations, cosine decay to
 * lr / 10, AdamW betas 0.9 / 0.99, weight decay 0.1, clipping at 1.0,
 * dropout 0 and a tied head, which readGptShape checks against the config.
 * Evaluation is cut to 64 validation windows and sampling is off, because
 * neither counts towards tokens/s.
 */
export function gptPeerArgs(peersDir, { shape, steps, threads, textFile }) {
  return [
    join(peersDir, 'char_gpt.py'),
    '--n-layer', String(shape.nLayer),
    '--n-head', String(shape.nHead),
    '--n-embd', String(shape.nEmbd),
    '--block-size', String(shape.blockSize),
    '--batch-size', String(shape.batchSize),
    '--iters', String(steps),
    '--lr', String(shape.lr),
    '--threads', String(threads),
    '--text-file', textFile,
    '--eval-max-windows', '64',
    '--sample-chars', '0',
    '--quiet',
  ];
}

/** Extracts the figures of a char_gpt.py result object. */
export function readGptPeerResult(result) {
  return {
    tokensPerSec: requireNumber(result, 'train_tokens_per_s'),
    msPerStep: requireNumber(result, 'ms_per_iter'),
    steps: result.iters,
    threads: result.threads,
    valLoss: result.val_loss,
    blas: result.blas,
    torch: result.torch,
    selfReportedLoad: selfReportedLoad(result),
  };
}

/** Extracts the figures of a mnist_mlp.py result object. */
export function readMlpPeerResult(result) {
  return {
    samplesPerSec: requireNumber(result, 'train_samples_per_s'),
    trainSamples: result.train_n,
    testErrors: result.test_errors,
    blas: result.blas,
    torch: result.torch,
    selfReportedLoad: selfReportedLoad(result),
  };
}

/** Extracts the figures of a mnist_ddp.py result object. */
export function readDdpPeerResult(result) {
  const figures = {
    samplesPerSec: requireNumber(result, 'train_samples_per_s'),
    steps: result.steps,
    stepMs: result.step_ms,
    gradBytesPerStep: result.grad_bytes_per_step,
    blas: result.blas,
    torch: result.torch,
    selfReportedLoad: selfReportedLoad(result),
  };
  if (typeof result.allreduce_ms_per_step === 'number') {
    figures.allreduceMs = result.allreduce_ms_per_step;
    figures.allreduceShareOfStep = result.allreduce_share_of_step;
  }
  return figures;
}

/** Extracts one row per (world size, size) from an allreduce_bench.py result object. */
export function readAllreducePeerResult(result) {
  if (!Array.isArray(result.rows)) throw new Error('allreduce_bench.py output has no "rows" array');
  return result.rows.map((row) => ({
    transport: 'gloo',
    worldSize: row.world_size,
    sizeMiB: row.size_mib,
    sizeBytes: row.size_bytes,
    timeMs: row.time_ms,
    algbwGBps: row.algbw_GBps,
    busbwGBps: row.busbw_GBps,
    correct: row.correct,
  }));
}

function selfReportedLoad(result) {
  return { ownCores: result.own_cpu_cores, otherCores: result.other_cpu_cores, stealCores: result.steal_cores };
}

function requireNumber(result, key) {
  const value = result[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`peer output has no numeric "${key}" (bench "${String(result.bench)}")`);
  }
  return value;
}
