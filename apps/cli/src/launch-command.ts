import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { perRankBatch, readRunConfig } from '@ringtrain/config';
import { parseCommand, positiveInt, requireString, UsageError } from './args.js';
import { renderLogLine } from './log-render.js';

export const LAUNCH_HELP = `Usage: ringtrain launch --config FILE --workers N [options]

Starts a coordinator and N worker processes on this machine and trains the run.
Each worker gets (CPU cores / N) onnxruntime threads unless
cluster.threadsPerWorker is set.

Options:
  --config FILE        run config (JSON); see 'ringtrain config-keys'
  --workers N          number of worker processes
  --resume RUN_DIR     continue the run in RUN_DIR from its newest checkpoint
  --runs-dir DIR       parent folder of run directories (default: runs)
  --set KEY=VALUE      override a config key, for example --set train.epochs=1 (repeatable)
  --log-format FORMAT  text (default: progress lines) or json (the raw log lines)
  -h, --help           show this help

Writes runs/<run-id>/: config.json, metrics.jsonl, summary.json, model.onnx,
checkpoints/ and logs/, and model-int8.onnx for a run with quant.aware=true.
Exits 0 when the run finished, 1 when it failed, and 2 when an option or the run
config is invalid (the message names it).`;

/** After a worker process fails: when the launcher stops the coordinator, and when it kills everything. */
const COORDINATOR_STOP_MS = 10_000;
const FAILURE_SHUTDOWN_MS = 15_000;
const EXIT_GRACE_MS = 5_000;

const mainScript = fileURLToPath(new URL('./main.js', import.meta.url));

interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<number>;
}

function startChild(name: string, args: string[], onLine: (line: string, stream: 'stdout' | 'stderr') => void): Child {
  const child = spawn(process.execPath, [mainScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  createInterface({ input: child.stdout! }).on('line', (line) => onLine(line, 'stdout'));
  createInterface({ input: child.stderr! }).on('line', (line) => onLine(line, 'stderr'));
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  return { name, process: child, exited };
}

/** Returns the rank in a worker's JSON log line, or undefined for other lines. */
function rankOf(line: string): number | undefined {
  if (!line.startsWith('{') || !line.includes('"rank"')) return undefined;
  try {
    const rank = (JSON.parse(line) as { rank?: unknown }).rank;
    return typeof rank === 'number' ? rank : undefined;
  } catch {
    return undefined;
  }
}

function printSummary(summary: Record<string, unknown>, runDir: string): void {
  const lines: string[] = [];
  if (typeof summary['testAccuracy'] === 'number') {
    const errors = summary['testErrors'];
    lines.push(`test accuracy ${(summary['testAccuracy'] * 100).toFixed(2)}% (${String(errors)} errors), from model.onnx`);
  }
  if (typeof summary['int8TestAccuracy'] === 'number') {
    const accuracy = (summary['int8TestAccuracy'] * 100).toFixed(2);
    const bytes = Number(summary['int8ModelBytes']).toLocaleString('en-US');
    lines.push(`int8 test accuracy ${accuracy}% (${String(summary['int8TestErrors'])} errors), from model-int8.onnx (${bytes} bytes)`);
  }
  if (typeof summary['valLoss'] === 'number') {
    lines.push(`validation loss ${summary['valLoss'].toFixed(4)} nats per token, from model.onnx`);
  }
  const sps = summary['samplesPerSec'];
  const tps = summary['tokensPerSec'];
  if (typeof sps === 'number') {
    const tokens = typeof tps === 'number' ? ` (${Math.round(tps).toLocaleString('en-US')} tokens/s)` : '';
    lines.push(`training throughput ${Math.round(sps).toLocaleString('en-US')} samples/s${tokens}`);
  }
  const compute = summary['computeMs'];
  const allreduce = summary['allreduceMs'];
  if (typeof compute === 'number' && typeof allreduce === 'number') {
    const ratio = Number(summary['allreduceComputeRatio'] ?? 0);
    lines.push(`per step: compute ${compute.toFixed(1)} ms, all-reduce ${allreduce.toFixed(1)} ms (${ratio.toFixed(2)}x compute), optimizer ${Number(summary['optimizerMs']).toFixed(1)} ms`);
  }
  const rss = summary['peakRssBytes'];
  if (typeof rss === 'number') lines.push(`peak memory of rank 0: ${(rss / 2 ** 20).toFixed(0)} MiB`);
  lines.push(`steps ${String(summary['steps'])}, wall time ${Number(summary['wallSeconds']).toFixed(1)} s`);
  lines.push(`run directory ${runDir}`);
  process.stdout.write(lines.join('\n') + '\n');
}

export async function launchCommand(argv: string[]): Promise<number> {
  const values = parseCommand('launch', argv, {
    config: { type: 'string' },
    workers: { type: 'string' },
    resume: { type: 'string' },
    'runs-dir': { type: 'string' },
    set: { type: 'string', multiple: true },
    'log-format': { type: 'string' },
  });
  if (values['help']) {
    process.stdout.write(LAUNCH_HELP + '\n');
    return 0;
  }
  const workers = positiveInt(requireString(values, 'workers', 'launch'), 'workers');
  const overrides = (values['set'] as string[] | undefined) ?? [];
  const format = (values['log-format'] as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`--log-format must be text or json, got '${format}'`);
  const configPath = values['config'] as string | undefined;
  const resume = values['resume'] as string | undefined;
  if (!configPath && !resume) throw new UsageError("launch: missing --config FILE; see 'ringtrain launch --help'");
  // Validate here too, so that a bad config fails before any process starts.
  if (configPath) perRankBatch(readRunConfig(configPath, overrides), workers);

  const coordinatorArgs = ['coordinator', '--world-size', String(workers), '--listen', '127.0.0.1:0'];
  if (configPath) coordinatorArgs.push('--config', configPath);
  if (resume) coordinatorArgs.push('--resume', resume);
  if (values['runs-dir']) coordinatorArgs.push('--runs-dir', values['runs-dir'] as string);
  for (const o of overrides) coordinatorArgs.push('--set', o);

  const logs = new Map<string, WriteStream>();
  const pendingLines: [string, string][] = [];
  const emit = (source: string, line: string) => {
    const file = logs.get(source);
    if (file) file.write(line + '\n');
    else pendingLines.push([source, line]);
    if (format === 'json') process.stderr.write(line + '\n');
    else {
      const text = renderLogLine(line, source);
      if (text !== undefined) process.stderr.write(text + '\n');
    }
  };

  let summary: Record<string, unknown> | undefined;
  let runDir = '';
  const children: Child[] = [];
  let listening: (address: string) => void = () => undefined;
  const coordinatorAddress = new Promise<string>((resolve) => (listening = resolve));
  const coordinator = startChild('coordinator', coordinatorArgs, (line, stream) => {
    if (stream === 'stderr') return emit('coordinator', line);
    const event = JSON.parse(line) as { event: string; address?: string; runDir?: string; summary?: Record<string, unknown> };
    if (event.event === 'listening') {
      runDir = event.runDir!;
      mkdirSync(join(runDir, 'logs'), { recursive: true });
      logs.set('coordinator', createWriteStream(join(runDir, 'logs', 'coordinator.log'), { flags: 'a' }));
      for (let i = 0; i < workers; i++) logs.set(`worker-${i}`, createWriteStream(join(runDir, 'logs', `worker-${i}.log`), { flags: 'a' }));
      for (const [source, text] of pendingLines.splice(0)) logs.get(source)?.write(text + '\n');
      listening(event.address!);
    } else if (event.event === 'finished') {
      summary = event.summary;
    }
  });
  children.push(coordinator);
  const stopAll = (signal: NodeJS.Signals) => children.forEach((c) => c.process.exitCode === null && c.process.kill(signal));
  process.once('SIGINT', () => stopAll('SIGTERM'));

  const address = await Promise.race([coordinatorAddress, coordinator.exited.then(() => undefined)]);
  if (address === undefined) return (await coordinator.exited) || 1;
  process.stderr.write(`coordinator at ${address}, run directory ${runDir}, starting ${workers} workers\n`);
  let shutdownTimer: NodeJS.Timeout | undefined;
  let stopTimer: NodeJS.Timeout | undefined;
  for (let i = 0; i < workers; i++) {
    const name = `worker-${i}`;
    // The coordinator assigns ranks in join order; a worker's log lines carry the one it got.
    let rank: number | undefined;
    const worker = startChild(name, ['worker', '--coordinator', address], (line) => {
      rank ??= rankOf(line);
      emit(name, line);
    });
    children.push(worker);
    void worker.exited.then((code) => {
      if (code !== 0 && !shutdownTimer) {
        const how = worker.process.signalCode ? `was killed by ${worker.process.signalCode}` : `exited with code ${code}`;
        const rankLabel = rank === undefined ? 'no rank yet' : `rank ${rank}`;
        process.stderr.write(`worker process ${i} (pid ${worker.process.pid}, ${rankLabel}) ${how}\n`);
        // The coordinator names a dead rank itself; one that died before joining it cannot know about.
        stopTimer = setTimeout(() => coordinator.process.kill('SIGTERM'), COORDINATOR_STOP_MS);
        shutdownTimer = setTimeout(() => stopAll('SIGKILL'), FAILURE_SHUTDOWN_MS);
      }
    });
  }
  const code = await coordinator.exited;
  const rest = Promise.all(children.map((c) => c.exited));
  const graceTimer = setTimeout(() => stopAll('SIGKILL'), EXIT_GRACE_MS);
  await rest;
  clearTimeout(graceTimer);
  clearTimeout(shutdownTimer);
  clearTimeout(stopTimer);
  await Promise.all([...logs.values()].map((s) => new Promise((resolve) => s.end(resolve))));
  if (code === 0 && summary) {
    printSummary(summary, runDir);
    return 0;
  }
  const how = coordinator.process.signalCode ? `was killed by ${coordinator.process.signalCode}` : `exited with code ${code}`;
  process.stderr.write(`run failed (the coordinator ${how}); logs in ${join(runDir, 'logs')}\n`);
  return 1;
}
