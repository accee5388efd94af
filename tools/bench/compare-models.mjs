#!/usr/bin/env node
// Inference speed of compressed models (int8, float16, pruned) against their originals, side by
// side: for each pair and thread count, rounds alternate the original and the compressed model,
// and the table reports the medians of the rounds and the ratio. Latency is the median of runs at batch 1, throughput
// comes from the median run at batch 256.
// Usage: node tools/bench/compare-models.mjs --pair NAME=ORIGINAL.onnx,COMPRESSED.onnx [--pair ...]
//          [--threads 1,2] [--rounds 5] [--block-size 64] [--batch-runs 30] [--out FILE.json]
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
    'batch-runs': { type: 'string', default: '30' },
    out: { type: 'string' },
  },
});
if (!values.pair?.length) {
  process.stderr.write('usage: node tools/bench/compare-models.mjs --pair NAME=ORIGINAL.onnx,COMPRESSED.onnx [--threads 1,2] [--rounds 5] [--block-size 64] [--batch-runs 30] [--out FILE]\n');
  process.exit(2);
}
const threadCounts = values.threads.split(',').map(Number);
const rounds = Number(values.rounds);
const blockSize = Number(values['block-size']);
const batchRuns = Number(values['batch-runs']);

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
  const batchMs = await timeRuns(session, { [meta.name]: batch(meta, 256) }, batchRuns);
  await session.release();
  return { latencyMs, samplesPerSec: (256 / batchMs) * 1000 };
}

const machine = readMachineInfo(process.cwd());
const rows = [];
for (const spec of values.pair) {
  const [name, files] = spec.split('=');
  const [originalFile, compressedFile] = files.split(',');
  for (const threads of threadCounts) {
    const samples = { original: [], compressed: [] };
    for (let r = 0; r < rounds; r++) {
      await waitForQuietMachine(0.3, 60);
      samples.original.push(await measure(originalFile, threads));
      samples.compressed.push(await measure(compressedFile, threads));
    }
    const pick = (kind, key) => median(samples[kind].map((s) => s[key]));
    const row = {
      name,
      threads,
      originalLatencyMs: pick('original', 'latencyMs'),
      compressedLatencyMs: pick('compressed', 'latencyMs'),
      originalSamplesPerSec: pick('original', 'samplesPerSec'),
      compressedSamplesPerSec: pick('compressed', 'samplesPerSec'),
    };
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
}

const lines = [
  `CPU ${machine.cpuModel}, ${machine.cores} cores, VNNI: ${machine.vnni ?? 'no'}; onnxruntime-node ${machine.onnxruntimeNode}; medians of ${rounds} alternating rounds.`,
  '',
  '| model | threads | latency ms, batch 1: original / compressed | speed-up | samples/s, batch 256: original / compressed | speed-up |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) =>
    `| ${r.name} | ${r.threads} | ${r.originalLatencyMs.toFixed(3)} / ${r.compressedLatencyMs.toFixed(3)} | ${(r.originalLatencyMs / r.compressedLatencyMs).toFixed(2)}x | ` +
      `${r.originalSamplesPerSec.toFixed(0)} / ${r.compressedSamplesPerSec.toFixed(0)} | ${(r.compressedSamplesPerSec / r.originalSamplesPerSec).toFixed(2)}x |`,
  ),
];
process.stdout.write(lines.join('\n') + '\n');
if (values.out) writeFileSync(values.out, JSON.stringify({ machine, rounds, rows }, null, 2) + '\n');
