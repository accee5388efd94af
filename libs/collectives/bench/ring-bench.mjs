// Bus bandwidth of the ring all-reduce over gRPC and over plain sockets, and the rate of raw
// grpc-js streams, with every rank or stream end in its own process on 127.0.0.1. Prints one JSON
// line per variant and size. GB/s means 1e9 bytes per second; sizes are MiB (2^20 bytes).
//   busbw = algbw x 2(N - 1) / N, algbw = buffer bytes / time of one all-reduce (nccl-tests)
// Reference streams, all with raw-bytes serializers and the same chunk size as the rings:
//   grpc-raw-stream        one stream, one way, Node's default 64 KiB HTTP/2 receive window
//   grpc-raw-stream-tuned  the same with the receive windows RingEndpoint sets
//   grpc-raw-bidi-tuned    two tuned streams in opposite directions between two processes at
//                          once: the bytes and processes of a 2-rank ring, without the algorithm
// Variants run interleaved, one measurement of each per round, so that a burst of load from other
// processes hits them all alike. medianMs is the median over every timed iteration of every round;
// roundMedianMs lists each round's median. loadAverage is the 1-minute load before and after.
// Build first: (cd libs/collectives && npx tsc -b tsconfig.json); then
//   node libs/collectives/bench/ring-bench.mjs [--rounds 3] [--chunk-bytes 262144] [--sizes 1,16,64] [--world-sizes 2,4]
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const rankScript = join(here, '..', 'test-support', 'rank-process.mjs');
const rawScript = join(here, 'raw-grpc-stream.mjs');
if (!existsSync(join(here, '..', 'dist', 'index.js'))) {
  throw new Error('libs/collectives/dist is missing: run `npx tsc -b tsconfig.json` in libs/collectives first');
}
const { DEFAULT_RING_OPTIONS } = await import('../dist/index.js');

const MIB = 1024 * 1024;
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'chunk-bytes': { type: 'string', default: String(DEFAULT_RING_OPTIONS.chunkBytes) },
    sizes: { type: 'string', default: '1,16,64' },
    'world-sizes': { type: 'string', default: '2,4' },
  },
});
const ROUNDS = Number(args.rounds);
const CHUNK_BYTES = Number(args['chunk-bytes']);
const SIZES_MIB = args.sizes.split(',').map(Number);
const WORLD_SIZES = args['world-sizes'].split(',').map(Number);
/** Returns the timed iterations per measurement, after one warm-up: fewer for larger sizes. */
function iterationsFor(sizeMiB) {
  if (sizeMiB <= 1) return 20;
  if (sizeMiB <= 16) return 5;
  return 3;
}

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

function forkAll(script, argLists) {
  return argLists.map((childArgs) => fork(script, childArgs, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
}

function killLeftovers(children) {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
}

/** Returns the time of each timed all-reduce, taking the slowest rank of each iteration. */
async function timeRing(transport, worldSize, sizeMiB) {
  const children = forkAll(rankScript, Array.from({ length: worldSize }, () => []));
  try {
    const listening = await Promise.all(children.map((child) => request(child, { type: 'listen', transport })));
    const peers = listening.map((reply) => reply.address);
    const options = { chunkBytes: CHUNK_BYTES };
    await Promise.all(
      children.map((child, rank) => request(child, { type: 'connect', config: { rank, worldSize, peers, ringEpoch: 1, runId: 'bench', options }, rank })),
    );
    const iterations = iterationsFor(sizeMiB);
    const length = (sizeMiB * MIB) / 4;
    const replies = await Promise.all(children.map((child) => request(child, { type: 'timeAllReduce', length, iterations })));
    await Promise.all(children.map((child) => request(child, { type: 'close' })));
    return Array.from({ length: iterations }, (_, i) => Math.max(...replies.map((reply) => reply.times[i])));
  } finally {
    killLeftovers(children);
  }
}

/** Returns the time of each timed transfer of one stream from a sink to a source process. */
async function timeRawStream(sizeMiB, tuning) {
  const [sink, source] = forkAll(rawScript, [['sink', tuning], ['source']]);
  try {
    const { address } = await nextMessage(sink);
    const done = nextMessage(source);
    source.send({ type: 'start', address, bytes: sizeMiB * MIB, chunkBytes: CHUNK_BYTES, iterations: iterationsFor(sizeMiB) });
    const { times } = await done;
    sink.send({ type: 'close' });
    return times;
  } finally {
    killLeftovers([sink, source]);
  }
}

/** Returns, per iteration, the slower of two streams running at once in opposite directions. */
async function timeRawBidi(sizeMiB) {
  const peers = forkAll(rawScript, [['peer', 'tuned'], ['peer', 'tuned']]);
  try {
    const addresses = (await Promise.all(peers.map(nextMessage))).map((reply) => reply.address);
    const iterations = iterationsFor(sizeMiB);
    const replies = await Promise.all(
      peers.map((peer, index) => {
        const done = nextMessage(peer);
        peer.send({ type: 'start', address: addresses[1 - index], bytes: sizeMiB * MIB, chunkBytes: CHUNK_BYTES, iterations });
        return done;
      }),
    );
    for (const peer of peers) peer.send({ type: 'close' });
    return Array.from({ length: iterations }, (_, i) => Math.max(...replies.map((reply) => reply.times[i])));
  } finally {
    killLeftovers(peers);
  }
}

function round(value) {
  return Math.round(value * 1000) / 1000;
}

const variants = [
  { name: 'grpc-raw-stream', worldSize: 2, busFactor: 1, time: (sizeMiB) => timeRawStream(sizeMiB, 'default') },
  { name: 'grpc-raw-stream-tuned', worldSize: 2, busFactor: 1, time: (sizeMiB) => timeRawStream(sizeMiB, 'tuned') },
  { name: 'grpc-raw-bidi-tuned', worldSize: 2, busFactor: 1, time: (sizeMiB) => timeRawBidi(sizeMiB) },
  ...['grpc', 'net'].flatMap((transport) =>
    WORLD_SIZES.map((worldSize) => ({
      name: `${transport}-ring`,
      worldSize,
      busFactor: (2 * (worldSize - 1)) / worldSize,
      time: (sizeMiB) => timeRing(transport, worldSize, sizeMiB),
    })),
  ),
];

for (const sizeMiB of SIZES_MIB) {
  const loadBefore = loadavg()[0];
  const times = variants.map(() => []);
  const roundMedians = variants.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [index, variant] of variants.entries()) {
      const measured = await variant.time(sizeMiB);
      times[index].push(...measured);
      roundMedians[index].push(round(median(measured)));
    }
  }
  const loadAverage = [round(loadBefore), round(loadavg()[0])];
  for (const [index, variant] of variants.entries()) {
    const ms = median(times[index]);
    const algbw = (sizeMiB * MIB) / (ms / 1000) / 1e9;
    const { name, worldSize } = variant;
    const line = { transport: name, worldSize, sizeMiB, chunkBytes: CHUNK_BYTES, rounds: ROUNDS, iterations: times[index].length };
    console.log(
      JSON.stringify({ ...line, medianMs: round(ms), roundMedianMs: roundMedians[index], algbwGBps: round(algbw), busbwGBps: round(algbw * variant.busFactor), loadAverage }),
    );
  }
}
