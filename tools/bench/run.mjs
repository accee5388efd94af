#!/usr/bin/env node
// Benchmark of ringtrain against the PyTorch peer scripts: one worker's MLP
// throughput, the 2-worker data-parallel step, all-reduce bus bandwidth, and
// one worker's character GPT throughput.
// Peer and ringtrain runs alternate within each round, every run's CPU load is
// recorded, and the tables report medians over undisturbed runs.
// Run `node tools/bench/run.mjs --help` for the options.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitForQuietMachine } from './lib/cpu-load.mjs';
import { readMachineInfo, resolveIdxDir } from './lib/machine.mjs';
import { jsonLines, killActiveRun, lastJsonLine, runMeasured } from './lib/measured-run.mjs';
import { HELP, parseOptions } from './lib/options.mjs';
import {
  allreducePeerArgs,
  checkPeersDir,
  ddpPeerArgs,
  gptPeerArgs,
  mlpPeerArgs,
  readAllreducePeerResult,
  readDdpPeerResult,
  readGptPeerResult,
  readMlpPeerResult,
} from './lib/peers.mjs';
import { findRingBench, readRingBenchLine, RING_BENCH_ENTRY, ringBenchArgs } from './lib/ring-bench.mjs';
import {
  CLI_PATH,
  createRunsDir,
  findRunDir,
  GPT_CONFIG,
  gptOverrides,
  launchArgs,
  readGptRunFigures,
  readGptShape,
  readRunFigures,
  removeRunsDir,
} from './lib/ringtrain-runs.mjs';
import { renderReport } from './lib/report.mjs';

const WORKSPACE = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const REQUIRED_BLAS = 'openblas-openmp';

function progress(message) {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Runs benchmark slots: quiet wait, the run, its figures, and a retry while the run is disturbed. */
class BenchSession {
  constructor(options, logDir) {
    this.options = options;
    this.logDir = logDir;
    this.runs = [];
    this.startedMs = Date.now();
    this.blocked = { pytorch: null, ringtrain: null, ringBench: null, gpt: null };
    this.runCounter = 0;
    this.skipped = new Set();
  }

  overBudget() {
    return (Date.now() - this.startedMs) / 60_000 > this.options.maxMinutes;
  }

  /**
   * Runs one slot. `spec` has stage, side, variant, round, command, args (an
   * array, or a function of the prepared state), env, cwd, and
   * `readFigures(output, state)` which returns the figures or raises.
   * `prepare()` and `cleanup(state)` wrap each attempt when given.
   */
  async runSlot(spec) {
    const reason = this.blocked[spec.blockKey ?? spec.side];
    if (reason) {
      const key = `${spec.stage} ${spec.side} ${spec.variant}`;
      if (!this.skipped.has(key)) progress(`skip ${key}: ${reason}`);
      this.skipped.add(key);
      return;
    }
    for (let attempt = 1; attempt <= this.options.attempts; attempt++) {
      const run = await this.runAttempt(spec, attempt);
      this.runs.push(run);
      if (!run.disturbed || run.error || this.overBudget()) return;
      if (attempt < this.options.attempts) progress(`  disturbed (other load ${run.load.otherCores} cores), running again`);
    }
  }

  async runAttempt(spec, attempt) {
    const quiet = this.overBudget()
      ? { waitedSeconds: 0, otherCoresBefore: undefined }
      : await waitForQuietMachine(this.options.quietBelow, this.options.quietWaitSeconds);
    const state = spec.prepare ? spec.prepare() : {};
    const args = typeof spec.args === 'function' ? spec.args(state) : spec.args;
    this.runCounter += 1;
    const logFile = join(this.logDir, `${String(this.runCounter).padStart(3, '0')}-${spec.stage}-${spec.side}-${spec.variant}.log`);
    progress(`${spec.stage} ${spec.side} ${spec.variant} round ${spec.round} attempt ${attempt}`);
    const output = await runMeasured(spec.command, args, {
      cwd: spec.cwd,
      env: spec.env,
      timeoutSeconds: this.options.runTimeoutSeconds,
      logFile,
    });
    const run = {
      stage: spec.stage,
      side: spec.side,
      variant: spec.variant,
      round: spec.round,
      attempt,
      command: [spec.command, ...args].join(' '),
      exitCode: output.exitCode,
      timedOut: output.timedOut,
      load: { ...output.load, waitedSeconds: quiet.waitedSeconds, otherCoresBefore: quiet.otherCoresBefore },
      logFile,
    };
    run.disturbed = run.load.otherCores > this.options.maxOtherCores;
    try {
      if (output.exitCode !== 0) {
        throw new Error(`exit code ${output.exitCode}${output.timedOut ? ' (timed out)' : ''}: ${summarizeFailure(output)}`);
      }
      run.figures = spec.readFigures(output, state);
      progress(`  ${describeFigures(run.figures)}; other load ${run.load.otherCores} cores${run.disturbed ? ' (disturbed)' : ''}`);
    } catch (error) {
      run.error = error.message;
      progress(`  failed: ${error.message} (log ${logFile})`);
    } finally {
      if (spec.cleanup) spec.cleanup(state);
    }
    return run;
  }
}

/** Picks the lines that name the failure (compiler errors, thrown errors), else the last lines of output. */
function summarizeFailure(output) {
  const lines = `${output.stdout}\n${output.stderr}`
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const errors = lines.filter((line) => /error TS\d+|^\w*Error\b|^error\b/i.test(line));
  const picked = errors.length > 0 ? errors.slice(0, 3) : lines.slice(-3);
  return picked.join(' | ').slice(0, 600);
}

function describeFigures(figures) {
  if (typeof figures.tokensPerSec === 'number') {
    const stepMs = typeof figures.msPerStep === 'number' ? `, ${figures.msPerStep.toFixed(1)} ms/step` : '';
    return `${Math.round(figures.tokensPerSec)} tokens/s${stepMs}`;
  }
  if (typeof figures.samplesPerSec === 'number') {
    const extra = typeof figures.allreduceMs === 'number' ? `, all-reduce ${figures.allreduceMs.toFixed(2)} ms/step` : '';
    return `${Math.round(figures.samplesPerSec)} samples/s${extra}`;
  }
  if (Array.isArray(figures.rows)) {
    return figures.rows.map((r) => `N=${r.worldSize} ${r.sizeMiB} MiB ${r.busbwGBps.toFixed(3)} GB/s`).join(', ');
  }
  return JSON.stringify(figures);
}

function peerSpec(session, context, fields) {
  return {
    side: 'pytorch',
    command: session.options.python,
    cwd: session.logDir,
    env: context.peerEnv,
    ...fields,
  };
}

/** Builds a slot for one ringtrain launch in a fresh runs directory. `readRun` reads the run directory it writes. */
function launchSpec(session, context, fields, launch, readRun = readRunFigures) {
  return {
    side: 'ringtrain',
    command: process.execPath,
    cwd: WORKSPACE,
    env: context.ringtrainEnv,
    prepare: () => ({ runsDir: createRunsDir() }),
    args: (state) => launchArgs({ runsDir: state.runsDir, ...launch }),
    readFigures: (_output, state) => readRun(findRunDir(state.runsDir)),
    cleanup: (state) => {
      if (!session.options.keepRuns) removeRunsDir(state.runsDir);
    },
    ...fields,
  };
}

/** Checks the BLAS of the first peer result; blocks the remaining peer runs when it is not openblas-openmp. */
function checkBlas(session, context, figures) {
  context.machine.torch ??= figures.torch;
  if (context.machine.blas) return;
  context.machine.blas = figures.blas;
  if (figures.blas !== REQUIRED_BLAS && !session.options.allowAnyBlas) {
    session.blocked.pytorch =
      `torch loaded BLAS '${figures.blas}', not ${REQUIRED_BLAS}; install libopenblas0-openmp or pass --blas-libdir ` +
      '(or --allow-any-blas to run anyway)';
    progress(session.blocked.pytorch);
  }
}

async function runMlpStage(session, context) {
  const { steps, batchSize, threads, repeat } = session.options;
  for (let round = 1; round <= repeat; round++) {
    for (const threadCount of threads) {
      const variant = `threads=${threadCount}`;
      await session.runSlot(peerSpec(session, context, {
        stage: 'mlp',
        variant,
        round,
        args: () => mlpPeerArgs(context.peersDir, { idxDir: context.idxDir, steps, batchSize, threads: threadCount }),
        readFigures: (output) => {
          const figures = readMlpPeerResult(requireJson(output.stdout, 'mnist_mlp.py'));
          checkBlas(session, context, figures);
          return figures;
        },
      }));
      await session.runSlot(launchSpec(session, context, { stage: 'mlp', variant, round }, { workers: 1, steps, threads: threadCount }));
    }
  }
}

// The 2-worker launch logs every 10th step, so that the medians of computeMs and
// allreduceMs (single-step values in metrics.jsonl) cover about steps / 10 steps.
const DDP_LOG_EVERY = 10;

async function runDdpStage(session, context) {
  const { steps, batchSize, repeat } = session.options;
  const ddp = (timed) => peerSpec(session, context, {
    stage: 'ddp',
    variant: timed ? 'ddp-timed' : 'ddp',
    args: () => ddpPeerArgs(context.peersDir, { idxDir: context.idxDir, steps, batchSize, worldSize: 2, timed }),
    readFigures: (output) => {
      const figures = readDdpPeerResult(requireJson(output.stdout, 'mnist_ddp.py'));
      checkBlas(session, context, figures);
      return figures;
    },
  });
  for (let round = 1; round <= repeat; round++) {
    await session.runSlot({ ...ddp(false), round });
    await session.runSlot(launchSpec(session, context, { stage: 'ddp', variant: 'workers=2', round }, {
      workers: 2,
      steps,
      threads: 1,
      logEvery: DDP_LOG_EVERY,
    }));
    await session.runSlot({ ...ddp(true), round });
  }
}

async function runAllreduceStage(session, context) {
  const { sizesMiB, worldSizes, iters, warmup, repeat } = session.options;
  for (let round = 1; round <= repeat; round++) {
    await session.runSlot(peerSpec(session, context, {
      stage: 'allreduce',
      variant: 'gloo',
      round,
      args: () => allreducePeerArgs(context.peersDir, { sizesMiB, worldSizes, iters, warmup }),
      readFigures: (output) => {
        const result = requireJson(output.stdout, 'allreduce_bench.py');
        context.machine.torch ??= result.torch;
        return { rows: readAllreducePeerResult(result) };
      },
    }));
    await session.runSlot({
      stage: 'allreduce',
      side: 'ringtrain',
      blockKey: 'ringBench',
      variant: 'ring-bench',
      round,
      command: process.execPath,
      cwd: WORKSPACE,
      env: context.ringtrainEnv,
      args: ringBenchArgs(context.ringBench, { sizesMiB, worldSizes }),
      readFigures: (output) => {
        const rows = jsonLines(output.stdout)
          .map(readRingBenchLine)
          .filter((row) => row !== null);
        if (rows.length === 0) throw new Error(`${context.ringBench} printed no measurement lines`);
        return { rows };
      },
    });
  }
}

async function runGptStage(session, context) {
  if (session.blocked.gpt) return;
  const { gptSteps: steps, threads, repeat } = session.options;
  const { textFile, gptShape: shape } = context;
  for (let round = 1; round <= repeat; round++) {
    for (const threadCount of threads) {
      const variant = `threads=${threadCount}`;
      await session.runSlot(peerSpec(session, context, {
        stage: 'gpt',
        variant,
        round,
        args: () => gptPeerArgs(context.peersDir, { shape, steps, threads: threadCount, textFile }),
        readFigures: (output) => {
          const figures = readGptPeerResult(requireJson(output.stdout, 'char_gpt.py'));
          checkBlas(session, context, figures);
          return figures;
        },
      }));
      const launch = {
        workers: 1,
        steps,
        threads: threadCount,
        config: GPT_CONFIG,
        overrides: gptOverrides({ textFile, steps }),
      };
      await session.runSlot(launchSpec(session, context, { stage: 'gpt', variant, round }, launch, readGptRunFigures));
    }
  }
}

function requireJson(stdout, script) {
  const result = lastJsonLine(stdout);
  if (!result) throw new Error(`${script} printed no JSON object`);
  return result;
}

/** Compiles the workspace through the CLI once, so that no timed launch includes a build. */
async function prepareRingtrain(session, context) {
  progress(`checking that ringtrain builds: node ${CLI_PATH} --help`);
  const output = await runMeasured(process.execPath, [CLI_PATH, '--help'], {
    cwd: WORKSPACE,
    env: process.env,
    timeoutSeconds: session.options.runTimeoutSeconds,
    logFile: join(session.logDir, '000-ringtrain-build.log'),
  });
  if (output.exitCode !== 0) {
    session.blocked.ringtrain = `'node ${CLI_PATH} --help' failed with exit code ${output.exitCode}: ${summarizeFailure(output)}`;
    progress(session.blocked.ringtrain);
  }
}

/** Resolves the gpt stage's text file and model shape, or blocks the stage when no --text-file is given. */
function prepareGptStage(session, context) {
  const { textFile } = session.options;
  if (!textFile) {
    session.blocked.gpt = 'no --text-file FILE given';
    progress('no --text-file FILE given: skipping the gpt stage');
    return;
  }
  context.textFile = resolve(textFile);
  if (!existsSync(context.textFile)) throw new Error(`--text-file ${textFile}: file not found`);
  context.gptShape = readGptShape(join(WORKSPACE, GPT_CONFIG));
}

function buildContext(session) {
  const { options } = session;
  const context = { machine: readMachineInfo(WORKSPACE), idxDir: resolveIdxDir(WORKSPACE, options.idxDir) };
  const peerEnv = { ...process.env };
  if (options.blasLibdir) {
    peerEnv.LD_LIBRARY_PATH = [resolve(options.blasLibdir), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  }
  context.peerEnv = peerEnv;
  // Sources edited while the benchmark runs must not trigger a rebuild inside a timed launch.
  context.ringtrainEnv = { ...process.env, RINGTRAIN_SKIP_BUILD: '1' };
  if (options.stages.includes('gpt')) prepareGptStage(session, context);
  if (options.peersDir) {
    context.peersDir = resolve(options.peersDir);
    checkPeersDir(context.peersDir, options.stages.filter((stage) => stage !== 'gpt' || !session.blocked.gpt));
  } else {
    session.blocked.pytorch = 'no --peers DIR given';
    progress('no --peers DIR given: running the ringtrain side only');
  }
  context.ringBench = findRingBench(WORKSPACE, options.ringBench);
  if (!context.ringBench) session.blocked.ringBench = `collectives benchmark not found: ${options.ringBench ?? RING_BENCH_ENTRY}`;
  return context;
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (options.reportFrom) {
    const saved = JSON.parse(readFileSync(options.reportFrom, 'utf8'));
    process.stdout.write(renderReport({ ...saved, stages: saved.options.stages, options: saved.options }));
    return 0;
  }
  const logDir = options.logDir ? resolve(options.logDir) : mkdtempSync(join(tmpdir(), 'ringtrain-bench-logs-'));
  mkdirSync(logDir, { recursive: true });
  const session = new BenchSession(options, logDir);
  const context = buildContext(session);
  progress(`logs in ${logDir}; stages ${options.stages.join(',')}; ${options.repeat} rounds`);
  await prepareRingtrain(session, context);
  const stageRunners = { mlp: runMlpStage, ddp: runDdpStage, allreduce: runAllreduceStage, gpt: runGptStage };
  for (const stage of options.stages) await stageRunners[stage](session, context);

  const report = renderReport({
    runs: session.runs,
    stages: options.stages,
    options,
    machine: context.machine,
    blocked: session.blocked,
    gptShape: context.gptShape,
  });
  if (options.outFile) {
    const result = {
      startedAt: new Date(session.startedMs).toISOString(),
      finishedAt: new Date().toISOString(),
      machine: context.machine,
      options,
      gptShape: context.gptShape,
      blocked: session.blocked,
      runs: session.runs,
    };
    writeFileSync(options.outFile, JSON.stringify(result, null, 2) + '\n');
    progress(`wrote ${options.outFile}`);
  }
  process.stdout.write(report);
  return session.runs.some((r) => r.error) ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killActiveRun();
    process.exit(130);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`bench: ${error.message}\n`);
    process.exitCode = 2;
  },
);
