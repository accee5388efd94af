import { connect } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { allReduceCopies, expectAllReduced, formLocalRing, randomInputs, rejectionOf, sameBits, sleep } from '../test-support/ring-fixtures.js';
import { frameBytes } from './frame-reader.js';
import { NetRingEndpoint } from './net-endpoint.js';

const FOUR_MIB_OF_FLOATS = (4 * 1024 * 1024) / 4;

describe('NetRingEndpoint all-reduce', () => {
  for (const worldSize of [2, 3, 4]) {
    describe(`${worldSize} ranks`, () => {
      let ring: Awaited<ReturnType<typeof formLocalRing>>;
      beforeAll(async () => {
        ring = await formLocalRing(NetRingEndpoint, worldSize);
      });
      afterAll(async () => {
        await ring.close();
      });

      for (const length of [0, 1, worldSize - 1, 4 * worldSize + 1, FOUR_MIB_OF_FLOATS + 5]) {
        it(`should sum ${worldSize} x ${length} floats, bitwise identical`, async () => {
          const inputs = randomInputs(worldSize, length, length);
          const { outputs } = await allReduceCopies(ring.rings, inputs);
          expectAllReduced(outputs, inputs);
        });
      }

      it('should broadcast and pass a barrier on the same sockets', async () => {
        const inputs = randomInputs(worldSize, 70_001);
        const buffers = inputs.map((input) => input.slice());
        await Promise.all(ring.rings.map((r, rank) => r.broadcast(buffers[rank]!, { step: 1, root: 1 })));
        for (const buffer of buffers) expect(sameBits(buffer, inputs[1]!)).toBe(true);
        await Promise.all(ring.rings.map((r) => r.barrier({ step: 2 })));
        for (const endpoint of ring.endpoints) expect(endpoint.incomingStreams).toBe(1);
      });
    });
  }
});

describe('NetRingEndpoint failures', () => {
  it('EXPECTED FAILURE - should fail both neighbours of a closed endpoint within seconds', async () => {
    const ring = await formLocalRing(NetRingEndpoint, 3);
    const inputs = randomInputs(3, 4 * FOUR_MIB_OF_FLOATS);
    const results = ring.rings.map((r, rank) => r.allReduce(inputs[rank]!, { step: 0 }));
    await sleep(20);
    const killedAt = performance.now();
    await ring.endpoints[1]!.close();
    const [left, , right] = await Promise.all(results.map((result) => rejectionOf(result)));
    expect(performance.now() - killedAt).toBeLessThan(5_000);
    expect(left!.code).toBe('PEER_UNAVAILABLE');
    expect(left!.peerRank).toBe(1);
    // Rank 2 may hear first from rank 0, which aborted because of rank 1: it still blames rank 1.
    expect(right!.code).toBe('PEER_UNAVAILABLE');
    expect(right!.failedRank).toBe(1);
    expect(right!.message).toContain('rank 1');
    await ring.close();
  });

  it('EXPECTED FAILURE - should time out on a stalled neighbour, naming it', async () => {
    const ring = await formLocalRing(NetRingEndpoint, 2, { deadlineSlackMs: 300 });
    const error = await rejectionOf(ring.rings[0]!.allReduce(new Float32Array(10), { step: 0 }));
    expect(error.code).toBe('DEADLINE_EXCEEDED');
    expect(error.peerRank).toBe(1);
    await ring.close();
  });

  it('EXPECTED FAILURE - should reject a handshake from another run', async () => {
    const endpoint = await NetRingEndpoint.listen('127.0.0.1:0');
    const connecting = endpoint.connect({
      rank: 1,
      worldSize: 2,
      peers: ['127.0.0.1:1', endpoint.address],
      ringEpoch: 2,
      runId: 'run-a',
      options: { connectTimeoutMs: 500 },
    });
    const [host, port] = endpoint.address.split(':');
    const reply = await new Promise<string>((resolve) => {
      const socket = connect({ host: host!, port: Number(port) }, () => {
        socket.write(frameBytes(Buffer.from(JSON.stringify({ rank: 0, ringEpoch: 2, runId: 'run-b' }))));
      });
      const chunks: Buffer[] = [];
      socket.on('data', (data) => chunks.push(data));
      socket.on('close', () => resolve(Buffer.concat(chunks).subarray(4).toString()));
    });
    expect(JSON.parse(reply)).toMatchObject({ ok: false, reason: 'wrong-run' });
    expect(reply).toContain("got run 'run-b'");
    const error = await rejectionOf(connecting);
    expect(error.code).toBe('CONNECT_FAILED');
    await endpoint.close();
  });
});
