import * as grpc from '@grpc/grpc-js';
import { ringPb } from '@ringtrain/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  allReduceCopies,
  expectAllReduced,
  formLocalRing,
  randomInputs,
  rejectionOf,
  sameBits,
  sleep,
} from '../test-support/ring-fixtures.js';
import { RING_METADATA, RingEndpoint } from './grpc-endpoint.js';
import type { Ring } from './ring.js';

const Phase = ringPb.RingChunk_Phase;
const FOUR_MIB_OF_FLOATS = (4 * 1024 * 1024) / 4;

describe('RingEndpoint all-reduce', () => {
  for (const worldSize of [1, 2, 3, 4]) {
    describe(`${worldSize} ranks`, () => {
      let ring: Awaited<ReturnType<typeof formLocalRing>>;
      beforeAll(async () => {
        ring = await formLocalRing(RingEndpoint, worldSize);
      });
      afterAll(async () => {
        await ring.close();
      });

      const lengths = [...new Set([0, 1, worldSize - 1, 4 * worldSize + 1, FOUR_MIB_OF_FLOATS - 3, FOUR_MIB_OF_FLOATS + 5])];
      for (const length of lengths) {
        it(`should sum ${worldSize} x ${length} floats, bitwise identical`, async () => {
          const inputs = randomInputs(worldSize, length, length);
          const { outputs, stats } = await allReduceCopies(ring.rings, inputs, 1);
          expectAllReduced(outputs, inputs);
          for (const { alignmentCopies } of stats) expect(alignmentCopies).toBe(0);
        });
      }

      it('should reuse one stream per rank for every collective', () => {
        for (const endpoint of ring.endpoints) expect(endpoint.incomingStreams).toBe(worldSize > 1 ? 1 : 0);
      });
    });
  }

  it('should sum 2 x 64 MiB', async () => {
    const ring = await formLocalRing(RingEndpoint, 2);
    try {
      const inputs = randomInputs(2, (64 * 1024 * 1024) / 4, 64);
      const { outputs, stats } = await allReduceCopies(ring.rings, inputs);
      expectAllReduced(outputs, inputs);
      expect(stats[0]!.bytesSent).toBe(64 * 1024 * 1024);
    } finally {
      await ring.close();
    }
  });
});

describe('RingEndpoint broadcast and barrier', () => {
  let ring: Awaited<ReturnType<typeof formLocalRing>>;
  beforeAll(async () => {
    ring = await formLocalRing(RingEndpoint, 3, { chunkBytes: 4096 });
  });
  afterAll(async () => {
    await ring.close();
  });

  for (const root of [0, 2]) {
    it(`should broadcast ${FOUR_MIB_OF_FLOATS + 5} floats from root ${root}`, async () => {
      const inputs = randomInputs(3, FOUR_MIB_OF_FLOATS + 5, root + 10);
      const buffers = inputs.map((input) => input.slice());
      await Promise.all(ring.rings.map((r, rank) => r.broadcast(buffers[rank]!, { step: 0, root })));
      for (const buffer of buffers) expect(sameBits(buffer, inputs[root]!)).toBe(true);
    });
  }

  it('should hold every rank in a barrier until the last arrives', async () => {
    const done: number[] = [];
    const first = ring.rings.slice(0, 2).map((r, rank) => r.barrier({ step: 1 }).then(() => done.push(rank)));
    await sleep(100);
    expect(done).toEqual([]);
    await Promise.all([...first, ring.rings[2]!.barrier({ step: 1 })]);
    expect(done.length).toBe(2);
  });

  it('should run 60 mixed collectives on one stream with ranks out of step', async () => {
    await Promise.all(
      ring.rings.map(async (r, rank) => {
        for (let step = 0; step < 60; step++) {
          const inputs = randomInputs(3, 20_011, step);
          if ((rank * 7 + step) % 4 === 0) await sleep(2);
          if (step % 6 === 5) {
            await r.barrier({ step });
          } else if (step % 6 === 3) {
            const buffer = inputs[rank]!.slice();
            await r.broadcast(buffer, { step, root: 1 });
            expect(sameBits(buffer, inputs[1]!)).toBe(true);
          } else {
            const buffer = inputs[rank]!.slice();
            await r.allReduce(buffer, { step });
            expectAllReduced([buffer], inputs);
          }
        }
      }),
    );
    for (const endpoint of ring.endpoints) expect(endpoint.incomingStreams).toBe(1);
  });
});

/**
 * Rank 0 of a 2-rank ring played by the ts-proto generated client and server, so that the real
 * rank 1 talks to standard protobuf serializers.
 */
async function withProtoLeftNeighbour(
  run: (context: { ring: Ring; send(chunk: Partial<ringPb.RingChunk>): void; received: ringPb.RingChunk[]; status: Promise<grpc.ServiceError | null> }) => Promise<void>,
) {
  const received: ringPb.RingChunk[] = [];
  const server = new grpc.Server();
  server.addService(ringPb.RingService, {
    stream: (call: grpc.ServerReadableStream<ringPb.RingChunk, ringPb.RingStreamSummary>, callback: grpc.sendUnaryData<ringPb.RingStreamSummary>) => {
      call.sendMetadata(new grpc.Metadata());
      call.on('data', (chunk: ringPb.RingChunk) => received.push(chunk));
      call.on('end', () => callback(null, { chunks: received.length }));
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const endpoint = await RingEndpoint.listen('127.0.0.1:0');
  const connecting = endpoint.connect({
    rank: 1,
    worldSize: 2,
    peers: [`127.0.0.1:${port}`, endpoint.address],
    ringEpoch: 5,
    runId: 'run-a',
    options: { deadlineSlackMs: 5_000 },
  });
  const client = new ringPb.RingClient(endpoint.address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set(RING_METADATA.rank, '0');
  metadata.set(RING_METADATA.ringEpoch, '5');
  metadata.set(RING_METADATA.runId, 'run-a');
  let stream: grpc.ClientWritableStream<ringPb.RingChunk> | null = null;
  const status = new Promise<grpc.ServiceError | null>((resolve) => {
    stream = client.stream(metadata, (error) => resolve(error));
  });
  const ring = await connecting;
  const base = { ringEpoch: 5, sequence: 0, step: 3, ringStep: 0, chunkIndex: 0, dtype: 0 };
  try {
    await run({ ring, received, status, send: (chunk) => stream!.write(ringPb.RingChunk.fromPartial({ ...base, ...chunk })) });
  } finally {
    client.close();
    await ring.close();
    await endpoint.close();
    server.forceShutdown();
  }
}

function floats(values: number[]): Buffer {
  return Buffer.from(new Float32Array(values).buffer);
}

describe('RingEndpoint wire format', () => {
  it('should interoperate with ts-proto RingChunk messages', async () => {
    await withProtoLeftNeighbour(async ({ ring, send, received }) => {
      const buffer = new Float32Array([10, 20, 30, 40]);
      const done = ring.allReduce(buffer, { step: 3 });
      send({ phase: Phase.REDUCE_SCATTER, segment: 0, offset: 0, length: 2, payload: floats([1, 2]) });
      while (received.length < 2) await sleep(5);
      send({ phase: Phase.ALL_GATHER, segment: 1, offset: 2, length: 2, payload: floats([33, 44]) });
      await done;
      expect([...buffer]).toEqual([11, 22, 33, 44]);

      const [own, owned] = received;
      expect(own).toMatchObject({ ringEpoch: 5, sequence: 0, step: 3, phase: Phase.REDUCE_SCATTER, segment: 1, offset: 2, length: 2 });
      expect([...new Float32Array(new Uint8Array(own!.payload).buffer)]).toEqual([30, 40]);
      expect(owned).toMatchObject({ phase: Phase.ALL_GATHER, ringStep: 0, segment: 0, offset: 0, length: 2 });
      expect([...new Float32Array(new Uint8Array(owned!.payload).buffer)]).toEqual([11, 22]);
    });
  });

  const invalid: Array<[string, Partial<ringPb.RingChunk>, string]> = [
    ['ring epoch', { ringEpoch: 4 }, 'ring epoch expected 5, got 4'],
    ['sequence', { sequence: 2 }, 'sequence expected 0 (or 1 for the next collective), got 2'],
    ['step', { step: 4 }, 'step expected 3, got 4'],
    ['length', { length: 3, payload: floats([1, 2, 3]) }, 'length expected 2, got 3'],
    ['payload size', { payload: floats([1, 2, 3]) }, 'payload elements expected 2, got 3'],
  ];
  for (const [name, change, message] of invalid) {
    it(`EXPECTED FAILURE - should reject a wrong ${name} naming rank 0`, async () => {
      await withProtoLeftNeighbour(async ({ ring, send, status }) => {
        const done = ring.allReduce(new Float32Array(4), { step: 3 });
        send({ phase: Phase.REDUCE_SCATTER, segment: 0, offset: 0, length: 2, payload: floats([1, 2]), ...change });
        const error = await rejectionOf(done);
        expect(error.code).toBe('INVALID_CHUNK');
        expect(error.rank).toBe(1);
        expect(error.peerRank).toBe(0);
        expect(error.message).toContain('left neighbour rank 0');
        expect(error.message).toContain(message);
        const streamStatus = await status;
        expect(streamStatus?.code).toBe(grpc.status.ABORTED);
        expect(streamStatus?.details).toContain(message);
      });
    });
  }
});

describe('RingEndpoint stream admission', () => {
  async function openRawStream(address: string, metadata: Record<string, string>) {
    const client = new ringPb.RingClient(address, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    for (const [key, value] of Object.entries(metadata)) md.set(key, value);
    const error = await new Promise<grpc.ServiceError | null>((resolve) => client.stream(md, (e) => resolve(e)));
    client.close();
    return error;
  }

  it('EXPECTED FAILURE - should reject streams from the wrong rank, epoch or run', async () => {
    const endpoints = await Promise.all([RingEndpoint.listen('127.0.0.1:0'), RingEndpoint.listen('127.0.0.1:0')]);
    const peers = endpoints.map((endpoint) => endpoint.address);
    const config = { worldSize: 2, peers, ringEpoch: 5, runId: 'run-a' };
    const rank1 = endpoints[1]!.connect({ ...config, rank: 1 });
    const meta = (rank: string, epoch: string, run: string) => ({
      [RING_METADATA.rank]: rank,
      [RING_METADATA.ringEpoch]: epoch,
      [RING_METADATA.runId]: run,
    });
    await sleep(50);

    const stale = await openRawStream(peers[1]!, meta('0', '4', 'run-a'));
    expect(stale?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(stale?.details).toContain('ring epoch expected 5 or later, got 4 from rank 0');
    const otherRun = await openRawStream(peers[1]!, meta('0', '5', 'run-b'));
    expect(otherRun?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(otherRun?.details).toContain("rank 1 expects its left neighbour rank 0 of run 'run-a', got run 'run-b' from rank 0");
    const wrongRank = await openRawStream(peers[1]!, meta('1', '5', 'run-a'));
    expect(wrongRank?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(wrongRank?.details).toContain('rank 1 expects its left neighbour rank 0 in ring epoch 5, got rank 1');
    const noMetadata = await openRawStream(peers[1]!, {});
    expect(noMetadata?.code).toBe(grpc.status.INVALID_ARGUMENT);

    // The real neighbour still gets in.
    const rings = await Promise.all([endpoints[0]!.connect({ ...config, rank: 0 }), rank1]);
    const inputs = randomInputs(2, 10);
    expectAllReduced((await allReduceCopies(rings, inputs)).outputs, inputs);
    await Promise.all(rings.map((ring) => ring.close()));
    await Promise.all(endpoints.map((endpoint) => endpoint.close()));
  });

  it('EXPECTED FAILURE - should fail connect with a stale epoch, naming the right neighbour', async () => {
    const endpoints = await Promise.all([RingEndpoint.listen('127.0.0.1:0'), RingEndpoint.listen('127.0.0.1:0')]);
    const peers = endpoints.map((endpoint) => endpoint.address);
    const rank1 = endpoints[1]!.connect({ rank: 1, worldSize: 2, peers, ringEpoch: 5, runId: 'run-a', options: { connectTimeoutMs: 1_000 } });
    await sleep(50);
    const stale = await rejectionOf(
      endpoints[0]!.connect({ rank: 0, worldSize: 2, peers, ringEpoch: 4, runId: 'run-a', options: { connectTimeoutMs: 1_000 } }),
    );
    expect(stale.code).toBe('CONNECT_FAILED');
    expect(stale.peerRank).toBe(1);
    expect(stale.message).toContain('rejected the stream: FAILED_PRECONDITION');
    const missing = await rejectionOf(rank1);
    expect(missing.code).toBe('CONNECT_FAILED');
    expect(missing.message).toContain('no stream from its left neighbour rank 0 within 1000 ms');
    await Promise.all(endpoints.map((endpoint) => endpoint.close()));
  });

  it('BAD CALL - should reject a chunk size above the limit', async () => {
    const endpoint = await RingEndpoint.listen('127.0.0.1:0');
    const config = { rank: 0, worldSize: 1, peers: [endpoint.address], ringEpoch: 0, runId: 'r' };
    await expect(endpoint.connect({ ...config, options: { chunkBytes: 2 * 1024 * 1024 } })).rejects.toThrow(RangeError);
    await expect(endpoint.connect({ ...config, options: { chunkBytes: 6 } })).rejects.toThrow(RangeError);
    await endpoint.close();
  });
});

describe('RingEndpoint failures', () => {
  it('EXPECTED FAILURE - should fail both neighbours of a closed endpoint within seconds', async () => {
    const ring = await formLocalRing(RingEndpoint, 3);
    const inputs = randomInputs(3, 4 * FOUR_MIB_OF_FLOATS);
    const results = ring.rings.map((r, rank) => r.allReduce(inputs[rank]!, { step: 0 }));
    await sleep(30);
    const killedAt = performance.now();
    await ring.endpoints[1]!.close();
    const [left, , right] = await Promise.all(results.map((result) => rejectionOf(result)));
    expect(performance.now() - killedAt).toBeLessThan(5_000);
    expect(left!.peerRank).toBe(1);
    expect(left!.code).toBe('PEER_UNAVAILABLE');
    expect(left!.message).toContain('right neighbour rank 1');
    expect(right!.failedRank).toBe(1);
    expect(right!.message).toContain('rank 1');
    const later = await rejectionOf(ring.rings[0]!.allReduce(new Float32Array(1), { step: 1 }));
    expect(later.code).toBe('RING_FAILED');
    await ring.close();
  });

  it('EXPECTED FAILURE - should time out on a stalled neighbour, naming it', async () => {
    const ring = await formLocalRing(RingEndpoint, 3, { deadlineSlackMs: 500 });
    const started = performance.now();
    const rank0 = ring.rings[0]!.allReduce(new Float32Array(1000), { step: 0 });
    const rank2 = ring.rings[2]!.allReduce(new Float32Array(1000), { step: 0 });
    const error = await rejectionOf(rank2);
    expect(error.code).toBe('DEADLINE_EXCEEDED');
    expect(error.peerRank).toBe(1);
    expect(error.message).toContain('waiting for chunks from its left neighbour rank 1');
    await rejectionOf(rank0);
    expect(performance.now() - started).toBeLessThan(3_000);
    await ring.close();
  });
});
