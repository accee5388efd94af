// Markdown tables of the benchmark results: medians, every run's value, and
// ringtrain / PyTorch (or ring / raw stream) ratios of the medians.
import { summarizeRuns } from './stats.mjs';
import { RING_TRANSPORTS } from './ring-bench.mjs';

function formatNumber(value, digits) {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Formats a summary as "median (value / value* / ...)", where '*' marks a disturbed run that the median leaves out. */
function formatCell(summary, digits) {
  if (summary.total === 0) return 'not run';
  const values = summary.values.map((v, i) => formatNumber(v, digits) + (summary.disturbedFlags[i] ? '*' : '')).join(' / ');
  const note = summary.disturbedOnly ? ', all disturbed' : '';
  return `**${formatNumber(summary.median, digits)}** (${values}${note})`;
}

function formatRatio(numerator, denominator) {
  if (numerator.median === undefined || denominator.median === undefined || denominator.median === 0) return 'n/a';
  const flag = numerator.disturbedOnly || denominator.disturbedOnly ? ' (disturbed runs)' : '';
  return `${(numerator.median / denominator.median).toFixed(2)}x${flag}`;
}

function completedRuns(runs, stage, side, variant) {
  return runs.filter((r) => r.stage === stage && r.side === side && r.variant === variant && r.figures);
}

function mlpTable(runs, threadCounts) {
  const lines = [
    '| threads | PyTorch eager samples/s | ringtrain, 1 worker, samples/s | ringtrain / PyTorch |',
    '| --- | --- | --- | --- |',
  ];
  for (const threads of threadCounts) {
    const variant = `threads=${threads}`;
    const peer = summarizeRuns(completedRuns(runs, 'mlp', 'pytorch', variant), (r) => r.figures.samplesPerSec);
    const ours = summarizeRuns(completedRuns(runs, 'mlp', 'ringtrain', variant), (r) => r.figures.samplesPerSec);
    lines.push(`| ${threads} | ${formatCell(peer, 0)} | ${formatCell(ours, 0)} | ${formatRatio(ours, peer)} |`);
  }
  return lines.join('\n');
}

/** Formats how many of a summary's runs were undisturbed, as "k of n". */
function formatUndisturbed(summary) {
  const undisturbed = summary.disturbedFlags.filter((flag) => !flag).length;
  return `${undisturbed} of ${summary.total}`;
}

function gptTable(runs, threadCounts) {
  const lines = [
    '| threads | PyTorch eager tokens/s | ringtrain, 1 worker, tokens/s | ringtrain / PyTorch | undisturbed runs, PyTorch / ringtrain | ' +
      'PyTorch ms / step | ringtrain ms / step | ringtrain compute / optimizer ms / step |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const threads of threadCounts) {
    const variant = `threads=${threads}`;
    const peerRuns = completedRuns(runs, 'gpt', 'pytorch', variant);
    const ourRuns = completedRuns(runs, 'gpt', 'ringtrain', variant);
    const peer = summarizeRuns(peerRuns, (r) => r.figures.tokensPerSec);
    const ours = summarizeRuns(ourRuns, (r) => r.figures.tokensPerSec);
    const peerStep = summarizeRuns(peerRuns, (r) => r.figures.msPerStep);
    const ourStep = summarizeRuns(ourRuns, (r) => r.figures.msPerStep);
    const compute = summarizeRuns(ourRuns, (r) => r.figures.computeMs);
    const optimizer = summarizeRuns(ourRuns, (r) => r.figures.optimizerMs);
    lines.push(`| ${threads} | ${formatCell(peer, 0)} | ${formatCell(ours, 0)} | ${formatRatio(ours, peer)} | ` +
      `${formatUndisturbed(peer)} / ${formatUndisturbed(ours)} | ${formatCell(peerStep, 1)} | ${formatCell(ourStep, 1)} | ` +
      `${formatNumber(compute.median, 1)} / ${formatNumber(optimizer.median, 1)} |`);
  }
  lines.push('');
  lines.push('tokens/s = steps x batch x block / time in training steps (forward + backward + clipping + optimizer step) on both sides; ' +
    'start-up, data loading, evaluation and export are left out. PyTorch ms / step is `ms_per_iter` of char_gpt.py. ' +
    'ringtrain ms / step is the mean computeMs + allreduceMs + optimizerMs per step of summary.json, ' +
    'and its compute / optimizer columns are medians over runs of those means.');
  return lines.join('\n');
}

function ddpTable(runs) {
  const ddp = completedRuns(runs, 'ddp', 'pytorch', 'ddp');
  const timed = completedRuns(runs, 'ddp', 'pytorch', 'ddp-timed');
  const ours = completedRuns(runs, 'ddp', 'ringtrain', 'workers=2');
  const rows = [
    ['samples/s', 0, (r) => r.figures.samplesPerSec, (r) => r.figures.samplesPerSec, (r) => r.figures.samplesPerSec],
    ['all-reduce ms / step', 2, () => undefined, (r) => r.figures.allreduceMs, (r) => r.figures.allreduceMs],
    ['compute ms / step', 2, () => undefined, (r) => r.figures.stepMs - r.figures.allreduceMs, (r) => r.figures.computeMs],
    ['all-reduce / compute', 2, () => undefined, (r) => r.figures.allreduceMs / (r.figures.stepMs - r.figures.allreduceMs), (r) => r.figures.allreduceOverCompute],
  ];
  const lines = [
    '| 2 ranks x 1 thread, global batch 128 | PyTorch DDP (gloo, overlapped) | PyTorch DDP `--time-allreduce` | ringtrain, 2 workers |',
    '| --- | --- | --- | --- |',
  ];
  for (const [label, digits, pickDdp, pickTimed, pickOurs] of rows) {
    const cells = [summarizeRuns(ddp, pickDdp), summarizeRuns(timed, pickTimed), summarizeRuns(ours, pickOurs)];
    lines.push(`| ${label} | ${cells.map((c) => (c.total === 0 ? '' : formatCell(c, digits))).join(' | ')} |`);
  }
  const oursRate = summarizeRuns(ours, (r) => r.figures.samplesPerSec);
  lines.push('');
  lines.push(`ringtrain / DDP samples/s: ${formatRatio(oursRate, summarizeRuns(ddp, (r) => r.figures.samplesPerSec))} against overlapped DDP, ` +
    `${formatRatio(oursRate, summarizeRuns(timed, (r) => r.figures.samplesPerSec))} against \`--time-allreduce\`.`);
  lines.push('DDP compute ms = step ms − all-reduce ms (it includes the optimizer step); ringtrain compute ms is forward + backward (computeMs).');
  return lines.join('\n');
}

/** Returns the rows of one transport from every completed all-reduce run, each marked with its run's `disturbed` flag. */
function allreduceRows(runs, side, transport) {
  const rows = [];
  for (const run of runs.filter((r) => r.stage === 'allreduce' && r.side === side && r.figures)) {
    for (const row of run.figures.rows) {
      if (row.transport === transport) rows.push({ ...row, disturbed: run.disturbed });
    }
  }
  return rows;
}

function allreduceTable(runs, worldSizes, sizesMiB) {
  const columns = [
    { key: 'gloo', label: 'gloo (PyTorch)', rows: allreduceRows(runs, 'pytorch', 'gloo') },
    ...RING_TRANSPORTS.map((t) => ({ ...t, rows: allreduceRows(runs, 'ringtrain', t.key) })),
  ];
  const column = (key) => columns.findIndex((c) => c.key === key);
  const lines = [
    `| ranks | MiB | ${columns.map((c) => c.label).join(' | ')} | ring gRPC / raw stream, ring windows | ring gRPC / 2 raw streams |`,
    `| --- | --- | ${columns.map(() => '---').join(' | ')} | --- | --- |`,
  ];
  for (const worldSize of worldSizes) {
    for (const sizeMiB of sizesMiB) {
      const pick = (c) => c.rows.filter((row) => (c.twoProcesses || row.worldSize === worldSize) && Math.abs(row.sizeMiB - sizeMiB) < 1e-6);
      const cells = columns.map((c) => summarizeRuns(pick(c), (row) => row.busbwGBps));
      const ring = cells[column('grpc-ring')];
      const ratios = [formatRatio(ring, cells[column('grpc-raw-stream-tuned')]), formatRatio(ring, cells[column('grpc-raw-bidi-tuned')])];
      lines.push(`| ${worldSize} | ${sizeMiB} | ${cells.map((c) => formatCell(c, 3)).join(' | ')} | ${ratios.join(' | ')} |`);
    }
  }
  lines.push('');
  lines.push('busbw in GB/s (1e9 bytes/s): busbw = algbw x 2(N-1)/N, algbw = bytes / time. gloo time: mean of back-to-back calls. ' +
    'ringtrain time: median over iterations of the slowest rank. The raw grpc-js references run between 2 processes, ' +
    'so their rate (bytes / time, one way per stream) appears in the rows of every world size.');
  return lines.join('\n');
}

function loadTable(runs) {
  const lines = [
    '| stage | side | variant | round | attempt | exit | wall s | own cores | other cores | steal cores | waited s | disturbed |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of runs) {
    const load = r.load ?? {};
    lines.push(`| ${r.stage} | ${r.side} | ${r.variant} | ${r.round} | ${r.attempt} | ${r.exitCode}${r.error ? ' (failed)' : ''} | ` +
      `${formatNumber(load.wallSeconds, 1)} | ${formatNumber(load.ownCores, 2)} | ${formatNumber(load.otherCores, 2)} | ` +
      `${formatNumber(load.stealCores, 2)} | ${formatNumber(load.waitedSeconds, 0)} | ${r.disturbed ? 'yes' : 'no'} |`);
  }
  return lines.join('\n');
}

/** Builds the markdown report for the stages that ran. */
export function renderReport({ runs, stages, options, machine, blocked, gptShape }) {
  const parts = [
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, VNNI: ${machine.vnni ?? 'none'}, Node ${machine.node}, ` +
      `onnxruntime-node ${machine.onnxruntimeNode ?? 'n/a'}, torch ${machine.torch ?? 'n/a'}, BLAS ${machine.blas ?? 'n/a'}; ` +
      `git ${machine.gitCommit?.slice(0, 12) ?? 'n/a'} with ${machine.uncommittedPaths ?? 'n/a'} uncommitted paths.`,
    `Medians over runs with other load at most ${options.maxOtherCores} cores; every run's value in brackets, ` +
      `'*' marks a disturbed run (left out of the median unless all are).`,
  ];
  if (stages.includes('mlp')) {
    parts.push(`### One worker, MLP 784-800-800-10, batch 128, SGD, ${options.steps} steps\n\n${mlpTable(runs, options.threads)}`);
  }
  if (stages.includes('ddp')) parts.push(`### Two workers, ${options.steps} steps\n\n${ddpTable(runs)}`);
  if (stages.includes('allreduce')) {
    parts.push(`### All-reduce bus bandwidth\n\n${allreduceTable(runs, options.worldSizes, options.sizesMiB)}`);
  }
  if (stages.includes('gpt')) {
    const shape = gptShape
      ? `${gptShape.nLayer} layers, ${gptShape.nHead} heads, embedding ${gptShape.nEmbd}, block ${gptShape.blockSize}, ` +
        `batch ${gptShape.batchSize}, AdamW lr ${gptShape.lr}, `
      : '';
    parts.push(`### Char GPT, one worker vs PyTorch (tokens/s)\n\n${shape}${options.gptSteps} steps, text ${options.textFile ?? 'n/a'}\n\n` +
      gptTable(runs, options.threads));
  }
  parts.push(`### Runs and CPU load\n\n${loadTable(runs)}`);
  const skipped = Object.entries(blocked).filter(([, reason]) => reason);
  if (skipped.length > 0) {
    parts.push(`### Skipped\n\n${skipped.map(([part, reason]) => `- ${part}: ${reason}`).join('\n')}`);
  }
  const failures = runs.filter((r) => r.error);
  if (failures.length > 0) {
    parts.push(`### Failed runs\n\n${failures.map((r) => `- ${r.stage} ${r.side} ${r.variant} round ${r.round}: ${r.error} (log ${r.logFile})`).join('\n')}`);
  }
  return parts.join('\n\n') + '\n';
}
