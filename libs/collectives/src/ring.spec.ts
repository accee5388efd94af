import { ringPb } from '@ringtrain/proto';
import { describe, expect, it } from 'vitest';

import { expectAllReduced, randomInputs, rejectionOf, sameBits, sleep } from '../test-support/ring-fixtures.js';
import { type MemoryMessage, MemoryRingNetwork, type MemoryRingNetworkOptions } from './memory-transport.js';
import type { RingOptions } from './ring-options.js';
import type { Ring } from './ring.js';

const Phase = ringPb.RingChunk_Phase;

function memoryRings(worldSize: number, options?: RingOptions, network: MemoryRingNetworkOptions = {}) {
  const net = new MemoryRingNetwork(worldSize, network);
  return { net, rings: net.createRings(options) };
}

async function allReduceEverywhere(rings: Ring[], inputs: Float32Array[], step = 0): Promise<Float32Array[]> {
  const outputs = inputs.map((input) => input.slice());
  await Promise.all(rings.map((ring, rank) => ring.allReduce(outputs[rank]!, { step })));
  return outputs;
}

function countBy(messages: MemoryMessage[], phase: number): number {
  return messages.filter((message) => message.header.phase === phase).length;
}

describe('Ring.allReduce', () => {
  const chunkBytes = 16; // 4 elements, so that small buffers span several chunks
  for (const worldSize of [1, 2, 3, 4]) {
    for (const length of [0, 1, worldSize - 1, 4 * worldSize + 1, 37, 1000]) {
      it(`should sum ${worldSize} ranks x ${length} elements`, async () => {
        const { rings } = memoryRings(worldSize, { chunkBytes });
        const inputs = randomInputs(worldSize, length, length + 1);
        expectAllReduced(await allReduceEverywhere(rings, inputs), inputs);
      });
    }
  }

  it('should send N(N-1) chunks per segment chunk in each phase, around the ring', async () => {
    const worldSize = 4;
    const chunksPerSegment = 3;
    const { net, rings } = memoryRings(worldSize, { chunkBytes: 8 });
    const inputs = randomInputs(worldSize, worldSize * 2 * chunksPerSegment);
    await allReduceEverywhere(rings, inputs);

    const expected = worldSize * (worldSize - 1) * chunksPerSegment;
    expect(countBy(net.messages, Phase.REDUCE_SCATTER)).toBe(expected);
    expect(countBy(net.messages, Phase.ALL_GATHER)).toBe(expected);
    expect(net.messages.length).toBe(2 * expected);
    for (const { from, to } of net.messages) expect(to).toBe((from + 1) % worldSize);
    const senders = new Set(net.messages.map((message) => message.from));
    expect([...senders].sort()).toEqual([0, 1, 2, 3]);
  });

  it('should send rank r segment (r - k) mod N at reduce-scatter step k', async () => {
    const worldSize = 3;
    const { net, rings } = memoryRings(worldSize, { chunkBytes: 1024 });
    await allReduceEverywhere(rings, randomInputs(worldSize, 30));
    for (const { from, header } of net.messages) {
      const k = header.ringStep;
      const segment = header.phase === Phase.REDUCE_SCATTER ? from - k : from + 1 - k;
      expect(header.segment).toBe(((segment % worldSize) + worldSize) % worldSize);
    }
  });

  it('should report stats for the call', async () => {
    const { rings } = memoryRings(2, { chunkBytes: 64 });
    const buffers = randomInputs(2, 100);
    const stats = await Promise.all(rings.map((ring, rank) => ring.allReduce(buffers[rank]!, { step: 3 })));
    expect(stats[0]!.sequence).toBe(0);
    expect(stats[0]!.bytesSent).toBe(400); // 2(N - 1)/N x 400 bytes with N = 2
    expect(stats[0]!.bytesReceived).toBe(400);
    expect(stats[0]!.elapsedMs).toBeGreaterThanOrEqual(0);
    expect(stats[0]!.deadlineMs).toBeGreaterThan(0);
  });

  it('should reduce a view of a SharedArrayBuffer in place', async () => {
    const { rings } = memoryRings(3, { chunkBytes: 32 });
    const inputs = randomInputs(3, 50);
    const outputs = inputs.map((input) => {
      const shared = new Float32Array(new SharedArrayBuffer(4 * (input.length + 2)), 8, input.length);
      shared.set(input);
      return shared;
    });
    await Promise.all(rings.map((ring, rank) => ring.allReduce(outputs[rank]!, { step: 0 })));
    expectAllReduced(outputs, inputs);
  });

  it('should run many collectives back to back with ranks out of step', async () => {
    const worldSize = 4;
    const { rings } = memoryRings(worldSize, { chunkBytes: 32 }, { highWaterMark: 2 });
    await Promise.all(
      rings.map(async (ring, rank) => {
        for (let step = 0; step < 25; step++) {
          const inputs = randomInputs(worldSize, 97, step + 1);
          const buffer = inputs[rank]!.slice();
          // Uneven pauses make some ranks start the next collective while others finish this one.
          if ((rank + step) % 3 === 0) await sleep(1);
          if (step % 5 === 4) {
            await ring.barrier({ step });
          } else if (step % 5 === 2) {
            const source = step === 2 ? inputs[0]!.slice() : buffer;
            await ring.broadcast(source, { step, root: step % worldSize });
          } else {
            await ring.allReduce(buffer, { step });
          }
        }
      }),
    );
  });

  it('should stay correct when early chunks exceed maxEarlyBytes', async () => {
    const { rings } = memoryRings(3, { chunkBytes: 16, maxEarlyBytes: 32 });
    const first = randomInputs(3, 200, 1);
    const second = randomInputs(3, 200, 2);
    const outputs = second.map((input) => input.slice());
    await Promise.all(
      rings.map(async (ring, rank) => {
        await ring.allReduce(first[rank]!.slice(), { step: 0 });
        if (rank === 2) await sleep(20);
        await ring.allReduce(outputs[rank]!, { step: 1 });
      }),
    );
    expectAllReduced(outputs, second);
  });

  it('BAD CALL - should reject a buffer that is not a Float32Array', async () => {
    const { rings } = memoryRings(1);
    await expect(rings[0]!.allReduce(new Float64Array(4) as unknown as Float32Array, { step: 0 })).rejects.toThrow(
      TypeError,
    );
  });
});

describe('Ring.broadcast', () => {
  for (const worldSize of [1, 2, 3, 4]) {
    for (const root of [0, worldSize - 1]) {
      for (const length of [0, 1, 45]) {
        it(`should copy root ${root} to ${worldSize} ranks x ${length} elements`, async () => {
          const { net, rings } = memoryRings(worldSize, { chunkBytes: 16 });
          const inputs = randomInputs(worldSize, length);
          const buffers = inputs.map((input) => input.slice());
          await Promise.all(rings.map((ring, rank) => ring.broadcast(buffers[rank]!, { step: 0, root })));
          for (const buffer of buffers) expect(sameBits(buffer, inputs[root]!)).toBe(true);

          const chunks = Math.max(1, Math.ceil(length / 4));
          const data = net.messages.filter((message) => message.header.chunkIndex < chunks);
          expect(data.length).toBe((worldSize - 1) * chunks);
          expect(net.messages.length - data.length).toBe(worldSize - 1); // one token hop per link but one
          for (const message of data) expect(message.to).not.toBe(root);
        });
      }
    }
  }

  it('BAD CALL - should reject a root outside the ring', async () => {
    const { rings } = memoryRings(2);
    await expect(rings[0]!.broadcast(new Float32Array(1), { step: 0, root: 2 })).rejects.toThrow(RangeError);
  });
});

describe('Ring.barrier', () => {
  it('should hold every rank until the last one arrives', async () => {
    const { rings } = memoryRings(4);
    const done: number[] = [];
    const early = rings.slice(0, 3).map((ring, rank) => ring.barrier({ step: 0 }).then(() => done.push(rank)));
    await sleep(50);
    expect(done).toEqual([]);
    await Promise.all([...early, rings[3]!.barrier({ step: 0 })]);
    expect(done.sort()).toEqual([0, 1, 2]);
  });
});

describe('Ring validation', () => {
  function tampered(field: 'ringEpoch' | 'sequence' | 'step' | 'length', delta: number) {
    return memoryRings(3, { chunkBytes: 16 }, {
      intercept: (message) =>
        message.from === 1 ? { header: { ...message.header, [field]: message.header[field] + delta } } : 'deliver',
    });
  }

  const cases = [
    ['ringEpoch', 'ring epoch expected 0, got 1'],
    ['sequence', 'sequence expected 0 (or 1 for the next collective), got 2'],
    ['step', 'step expected 0, got 1'],
    ['length', 'length expected 4, got 5'],
  ] as const;
  for (const [field, message] of cases) {
    it(`EXPECTED FAILURE - should reject a wrong ${field} naming rank 1`, async () => {
      const { rings } = tampered(field, field === 'sequence' ? 2 : 1);
      const results = rings.map((ring) => ring.allReduce(new Float32Array(24), { step: 0 }));
      const error = await rejectionOf(results[2]!);
      expect(error.code).toBe('INVALID_CHUNK');
      expect(error.rank).toBe(2);
      expect(error.peerRank).toBe(1);
      expect(error.message).toContain('left neighbour rank 1');
      expect(error.message).toContain(message);
      for (const result of results.slice(0, 2)) await rejectionOf(result);
    });
  }

  it('EXPECTED FAILURE - should reject buffers of different lengths', async () => {
    const { rings } = memoryRings(2, { chunkBytes: 16 });
    const results = [rings[0]!.allReduce(new Float32Array(10), { step: 0 }), rings[1]!.allReduce(new Float32Array(12), { step: 0 })];
    const errors = await Promise.all(results.map(rejectionOf));
    expect(errors.map((error) => error.code)).toContain('INVALID_CHUNK');
  });

  it('EXPECTED FAILURE - should reject a duplicated chunk', async () => {
    const { rings } = memoryRings(2, { chunkBytes: 16 }, {
      intercept: (message) =>
        message.from === 0 && message.header.chunkIndex === 1 ? { header: { ...message.header, chunkIndex: 0, offset: 0 } } : 'deliver',
    });
    const results = rings.map((ring) => ring.allReduce(new Float32Array(16), { step: 0 }));
    const error = await rejectionOf(results[1]!);
    expect(error.message).toContain('once, got twice');
    await rejectionOf(results[0]!);
  });

  it('EXPECTED FAILURE - should reject a broadcast against an all-reduce', async () => {
    const { rings } = memoryRings(2);
    const results = [rings[0]!.broadcast(new Float32Array(3), { step: 0 }), rings[1]!.allReduce(new Float32Array(3), { step: 0 })];
    const error = await rejectionOf(results[1]!);
    expect(error.message).toContain('phase expected REDUCE_SCATTER or ALL_GATHER, got BROADCAST');
    await rejectionOf(results[0]!);
  });
});

describe('Ring failures', () => {
  it('EXPECTED FAILURE - should time out naming the stalled left neighbour', async () => {
    const { rings } = memoryRings(3, { deadlineSlackMs: 300 }, { intercept: (message) => (message.from === 1 ? 'drop' : 'deliver') });
    const started = performance.now();
    const results = rings.map((ring) => ring.allReduce(new Float32Array(30), { step: 7 }));
    const errors = await Promise.all(results.map((result) => rejectionOf(result)));
    expect(performance.now() - started).toBeLessThan(3000);
    // Every rank's deadline is the same, so the first timer to fire fails its rank and the others
    // may see that rank's links close first. Each rank that timed out names the left neighbour it waited for.
    const timedOut = errors.filter((error) => error.code === 'DEADLINE_EXCEEDED');
    expect(timedOut.length).toBeGreaterThan(0);
    for (const error of timedOut) {
      const left = (error.rank + 2) % 3;
      expect(error.peerRank).toBe(left);
      expect(error.message).toContain(`waiting for chunks from its left neighbour rank ${left}`);
    }
    if (errors[2]!.code === 'DEADLINE_EXCEEDED') expect(errors[2]!.peerRank).toBe(1);
  });

  it('EXPECTED FAILURE - should fail the neighbours of a killed rank', async () => {
    let delivered = 0;
    let kill: () => void = () => undefined;
    // Kill rank 1 after 20 messages, so that the all-reduce is certainly in flight.
    const { net, rings } = memoryRings(4, { chunkBytes: 16 }, {
      highWaterMark: 1,
      intercept: () => {
        if (++delivered === 20) queueMicrotask(kill);
        return 'deliver';
      },
    });
    kill = () => net.kill(1);
    const results = rings.map((ring) => ring.allReduce(new Float32Array(400), { step: 0 }));
    const left = await rejectionOf(results[0]!);
    const right = await rejectionOf(results[2]!);
    expect(left.code).toBe('PEER_UNAVAILABLE');
    expect(left.peerRank).toBe(1);
    expect(left.message).toContain('right neighbour rank 1');
    expect(right.failedRank).toBe(1);
    expect(right.message).toContain('rank 1');
    await rejectionOf(results[3]!);
  });

  it('EXPECTED FAILURE - should reject later calls at once after a failure', async () => {
    const { net, rings } = memoryRings(2);
    net.kill(1);
    await sleep(5);
    const error = await rejectionOf(rings[0]!.allReduce(new Float32Array(1), { step: 0 }));
    expect(error.code).toBe('RING_FAILED');
    expect(error.peerRank).toBe(1);
    expect(rings[0]!.failure?.code).toBe('PEER_UNAVAILABLE');
  });

  it('EXPECTED FAILURE - should reject a collective interrupted by close', async () => {
    const { rings } = memoryRings(2);
    const pending = rings[0]!.allReduce(new Float32Array(8), { step: 0 });
    await rings[0]!.close();
    const error = await rejectionOf(pending);
    expect(error.code).toBe('RING_CLOSED');
    const later = await rejectionOf(rings[0]!.barrier({ step: 1 }));
    expect(later.code).toBe('RING_CLOSED');
    await rejectionOf(rings[1]!.allReduce(new Float32Array(8), { step: 0 }));
  });
});
