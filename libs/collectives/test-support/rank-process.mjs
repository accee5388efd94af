// One rank of a ring in its own process, driven by its parent over the IPC channel. Used by
// multi-process.spec.ts and bench/ring-bench.mjs. Imports the built library, so run
// `npx tsc -b tsconfig.json` in libs/collectives first.
import { createHash } from 'node:crypto';

import { NetRingEndpoint, RingEndpoint } from '../dist/index.js';

/** Same generator as randomBuffer in ring-fixtures.ts. */
function randomBuffer(length, seed) {
  const values = new Float32Array(length);
  let state = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 31 - 1;
  }
  return values;
}

let endpoint = null;
let ring = null;
let rank = -1;

function reply(message) {
  process.send(message);
}

function describeError(error) {
  return { type: 'error', code: error.code ?? null, peerRank: error.peerRank ?? null, failedRank: error.failedRank ?? null, message: String(error.message ?? error) };
}

async function handle(message) {
  switch (message.type) {
    case 'listen': {
      const endpointClass = message.transport === 'net' ? NetRingEndpoint : RingEndpoint;
      endpoint = await endpointClass.listen('127.0.0.1:0');
      reply({ type: 'listening', address: endpoint.address, pid: process.pid });
      return;
    }
    case 'connect': {
      rank = message.rank;
      ring = await endpoint.connect(message.config);
      reply({ type: 'connected' });
      return;
    }
    case 'allReduce':
    case 'broadcast': {
      const buffer = randomBuffer(message.length, message.seed * 1000 + rank);
      const started = performance.now();
      const stats =
        message.type === 'allReduce'
          ? await ring.allReduce(buffer, { step: message.step })
          : await ring.broadcast(buffer, { step: message.step, root: message.root });
      const elapsedMs = performance.now() - started;
      const sha256 = createHash('sha256').update(new Uint8Array(buffer.buffer)).digest('hex');
      const samples = message.sampleIndices.filter((index) => index < buffer.length).map((index) => [index, buffer[index]]);
      reply({ type: 'result', sha256, samples, stats, elapsedMs });
      return;
    }
    case 'timeAllReduce': {
      // Timed iterations after one warm-up, each started together behind a barrier.
      const buffer = new Float32Array(message.length).fill(1 / 1024);
      await ring.allReduce(buffer, { step: 0 });
      const times = [];
      for (let i = 0; i < message.iterations; i++) {
        await ring.barrier({ step: i });
        const started = performance.now();
        await ring.allReduce(buffer, { step: i });
        times.push(performance.now() - started);
      }
      reply({ type: 'times', times });
      return;
    }
    case 'close': {
      await ring?.close();
      await endpoint?.close();
      reply({ type: 'closed' });
      process.disconnect();
      return;
    }
    default:
      throw new Error(`unknown message type ${JSON.stringify(message.type)}`);
  }
}

process.on('message', (message) => {
  handle(message).catch((error) => reply(describeError(error)));
});
