#!/usr/bin/env node
// Inference speed of int8 models against their float32 originals, side by side: for each
// pair and thread count, rounds alternate float32 and int8 measurements, and the table reports
// the medians of the rounds and the ratio. Latency is the median of runs at batch 1, throughput
// comes from the median run at batch 256.
// Usage: node tools/bench/quantize.mjs --pair NAME=FLOAT.onnx,INT8.onnx [--pair ...]
//          [--threads 1,2] [--rounds 5] [--block-size 64] [--out FILE.json]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { waitForQuietMachine } from './lib/cpu-load.mjs';
import { readMachineInfo } from './lib/machine.mjs';

const { values } = parseArgs({
  options: {
    pair: { type: 'string', multiple: true },
    threads: { type: 'string', default: '1,2' },
    rounds: { type: 'string', default: '5' },
    'block-size': { type: 'string', default: '64' },
    out: { type: 'string' },
  },
});
if (!values.pair?.length) {
  process.stderr.write('usage: node tools/bench/quantize.mjs --pair NAME=FLOAT.onnx,INT8.onnx [--threads 1,2] [--rounds 5] [--out FILE]\n');
  process.exit(2);
}
const threadCounts = values.threads.split(',').map(Number);
const rounds = Number(values.rounds);
const blockSize = Number(values['block-size']);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Returns a batch of zeros for the model's input, with `blockSize` tokens for a language model. */
function batch(meta, n) {
  const sample = meta.shape.slice(1).map((d) => (typeof d === 'number' ? d : blockSize));
  const size = n * sample.reduce((a, b) => a * b, 1);
  return meta.type === 'int64' ? new ort.Tensor('int64', new BigInt64Array(size), [n, ...sample]) : new ort.Tensor('float32', new Float32Array(size), [n, ...sample]);
}

async function timeRuns(session, feeds, runs) {
  for (let i = 0; i < 5; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function measure(file, threads) {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const meta = session.inputMetadata[0];
  const latencyMs = await timeRuns(session, { [meta.name]: batch(meta, 1) }, 300);
  const batchMs = await timeRuns(session, { [meta.name]: batch(meta, 256) }, 30);
  await session.release();
  return { latencyMs, samplesPerSec: (256 / batchMs) * 1000 };
}

const machine = readMachineInfo(process.cwd());
const rows = [];
for (const spec of values.pair) {
  const [name, files] = spec.split('=');
  const [floatFile, int8File] = files.split(',');
  for (const threads of threadCounts) {
    const samples = { float32: [], int8: [] };
    for (let r = 0; r < rounds; r++) {
      await waitForQuietMachine(0.3, 60);
      samples.float32.push(await measure(floatFile, threads));
      samples.int8.push(await measure(int8File, threads));
    }
    const pick = (kind, key) => median(samples[kind].map((s) => s[key]));
    const row = {
      name,
      threads,
      float32LatencyMs: pick('float32', 'latencyMs'),
      int8LatencyMs: pick('int8', 'latencyMs'),
      float32SamplesPerSec: pick('float32', 'samplesPerSec'),
      int8SamplesPerSec: pick('int8', 'samplesPerSec'),
    };
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
}

const lines = [
  `CPU ${machine.cpuModel}, ${machine.cores} cores, VNNI: ${machine.vnni ?? 'no'}; onnxruntime-node ${machine.onnxruntimeNode}; medians of ${rounds} alternating rounds.`,
  '',
  '| model | threads | latency ms, batch 1: float32 / int8 | speed-up | samples/s, batch 256: float32 / int8 | speed-up |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) =>
    `| ${r.name} | ${r.threads} | ${r.float32LatencyMs.toFixed(3)} / ${r.int8LatencyMs.toFixed(3)} | ${(r.float32LatencyMs / r.int8LatencyMs).toFixed(2)}x | ` +
      `${r.float32SamplesPerSec.toFixed(0)} / ${r.int8SamplesPerSec.toFixed(0)} | ${(r.int8SamplesPerSec / r.float32SamplesPerSec).toFixed(2)}x |`,
  ),
];
process.stdout.write(lines.join('\n') + '\n');
if (values.out) writeFileSync(values.out, JSON.stringify({ machine, rounds, rows }, null, 2) + '\n');
