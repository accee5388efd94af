// Bus bandwidth of the ring all-reduce over gRPC and over plain sockets, and the rate of one raw
// grpc-js stream, with every rank in its own process on 127.0.0.1. Prints one JSON line per
// measurement. GB/s means 1e9 bytes per second; sizes are MiB (2^20 bytes).
//   busbw = algbw x 2(N - 1) / N, algbw = buffer bytes / time of one all-reduce (nccl-tests)
// Build first: (cd libs/collectives && npx tsc -b tsconfig.json); then node libs/collectives/bench/ring-bench.mjs
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const rankScript = join(here, '..', 'test-support', 'rank-process.mjs');
const rawScript = join(here, 'raw-grpc-stream.mjs');
if (!existsSync(join(here, '..', 'dist', 'index.js'))) {
  throw new Error('libs/collectives/dist is missing: run `npx tsc -b tsconfig.json` in libs/collectives first');
}

const MIB = 1024 * 1024;
const SIZES_MIB = [1, 16, 64];
const WORLD_SIZES = [2, 4];
const CHUNK_BYTES = 256 * 1024;
const ITERATIONS = { 1: 20, 16: 5, 64: 3 };

function nextMessage(child) {
  return new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`child ${child.pid} exited with ${code}`)));
  });
}

async function request(child, message) {
  const reply = nextMessage(child);
  child.send(message);
  const answer = await reply;
  if (answer.type === 'error') throw new Error(`rank error: ${answer.message}`);
  return answer;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function benchRing(transport, worldSize, sizeMiB) {
  const children = Array.from({ length: worldSize }, () => fork(rankScript, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
  try {
    const listening = await Promise.all(children.map((child) => request(child, { type: 'listen', transport })));
    const peers = listening.map((reply) => reply.address);
    await Promise.all(
      children.map((child, rank) =>
        request(child, { type: 'connect', config: { rank, worldSize, peers, ringEpoch: 1, runId: 'bench', options: { chunkBytes: CHUNK_BYTES } }, rank }),
      ),
    );
    const iterations = ITERATIONS[sizeMiB];
    const length = (sizeMiB * MIB) / 4;
    const replies = await Promise.all(children.map((child) => request(child, { type: 'timeAllReduce', length, iterations })));
    // An iteration lasts until its slowest rank finishes.
    const perIteration = Array.from({ length: iterations }, (_, i) => Math.max(...replies.map((reply) => reply.times[i])));
    const ms = median(perIteration);
    const algbw = (sizeMiB * MIB) / (ms / 1000) / 1e9;
    const busbw = (algbw * 2 * (worldSize - 1)) / worldSize;
    await Promise.all(children.map((child) => request(child, { type: 'close' })));
    return { transport: `${transport}-ring`, worldSize, sizeMiB, chunkBytes: CHUNK_BYTES, iterations, medianMs: round(ms), algbwGBps: round(algbw), busbwGBps: round(busbw) };
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function benchRawStream(sizeMiB) {
  const sink = fork(rawScript, ['sink'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const source = fork(rawScript, ['source'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    const { address } = await nextMessage(sink);
    const done = nextMessage(source);
    source.send({ address, bytes: sizeMiB * MIB, chunkBytes: CHUNK_BYTES, iterations: ITERATIONS[sizeMiB] });
    const { times } = await done;
    const ms = median(times);
    const bandwidth = (sizeMiB * MIB) / (ms / 1000) / 1e9;
    sink.send({ type: 'close' });
    return { transport: 'grpc-raw-stream', worldSize: 2, sizeMiB, chunkBytes: CHUNK_BYTES, iterations: times.length, medianMs: round(ms), algbwGBps: round(bandwidth), busbwGBps: round(bandwidth) };
  } finally {
    for (const child of [sink, source]) if (child.exitCode === null) child.kill('SIGKILL');
  }
}

function round(value) {
  return Math.round(value * 1000) / 1000;
}

for (const sizeMiB of SIZES_MIB) console.log(JSON.stringify(await benchRawStream(sizeMiB)));
for (const transport of ['grpc', 'net']) {
  for (const worldSize of WORLD_SIZES) {
    for (const sizeMiB of SIZES_MIB) console.log(JSON.stringify(await benchRing(transport, worldSize, sizeMiB)));
  }
}
