// Ranks as separate OS processes (test-support/rank-process.mjs), each with its own event loop
// and server, driven over IPC. The children import dist/, so beforeAll builds the library.
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { randomInputs, referenceSum } from '../test-support/ring-fixtures.js';

const libraryRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const childScript = join(libraryRoot, 'test-support', 'rank-process.mjs');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Reply = Record<string, any>;

class RankProcess {
  readonly child: ChildProcess;
  private readonly replies: Reply[] = [];
  private waiting: ((reply: Reply) => void) | null = null;

  constructor() {
    this.child = fork(childScript, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.child.on('message', (reply: Reply) => {
      if (this.waiting !== null) {
        const resolve = this.waiting;
        this.waiting = null;
        resolve(reply);
      } else {
        this.replies.push(reply);
      }
    });
  }

  request(message: Reply): Promise<Reply> {
    this.child.send(message);
    return this.next();
  }

  next(): Promise<Reply> {
    const queued = this.replies.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }
}

async function startRing(worldSize: number, transport: 'grpc' | 'net'): Promise<RankProcess[]> {
  const ranks = Array.from({ length: worldSize }, () => new RankProcess());
  const listening = await Promise.all(ranks.map((rank) => rank.request({ type: 'listen', transport })));
  const peers = listening.map((reply) => reply['address'] as string);
  const connected = await Promise.all(
    ranks.map((rank, index) =>
      rank.request({ type: 'connect', rank: index, config: { rank: index, worldSize, peers, ringEpoch: 3, runId: 'run-processes' } }),
    ),
  );
  for (const reply of connected) expect(reply['type']).toBe('connected');
  return ranks;
}

let running: RankProcess[] = [];

beforeAll(() => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', 'tsconfig.json'], { cwd: libraryRoot, stdio: 'inherit' });
}, 120_000);

afterEach(() => {
  for (const rank of running) if (rank.child.exitCode === null) rank.child.kill('SIGKILL');
  running = [];
});

describe('ranks in separate processes', () => {
  for (const transport of ['grpc', 'net'] as const) {
    it(`should all-reduce and broadcast over ${transport} across 3 processes`, async () => {
      running = await startRing(3, transport);
      const length = (4 * 1024 * 1024) / 4 + 5;
      const sampleIndices = [0, 1, 12_345, 524_288, length - 1];
      const results = await Promise.all(
        running.map((rank) => rank.request({ type: 'allReduce', length, seed: 9, step: 1, sampleIndices })),
      );
      for (const result of results) expect(result['type'], JSON.stringify(result)).toBe('result');
      expect(new Set(results.map((result) => result['sha256'])).size).toBe(1);

      const inputs = randomInputs(3, length, 9);
      const { sum, magnitude } = referenceSum(inputs);
      for (const [index, value] of results[0]!['samples'] as Array<[number, number]>) {
        expect(Math.abs(value - sum[index]!)).toBeLessThanOrEqual(3 * 2 ** -23 * magnitude[index]!);
      }

      const broadcast = await Promise.all(
        running.map((rank) => rank.request({ type: 'broadcast', length, seed: 10, step: 2, root: 0, sampleIndices })),
      );
      expect(new Set(broadcast.map((result) => result['sha256'])).size).toBe(1);
      expect(broadcast[2]!['samples'][2][1]).toBe(randomInputs(3, length, 10)[0]![12_345]);
      await Promise.all(running.map((rank) => rank.request({ type: 'close' })));
    });
  }

  it('EXPECTED FAILURE - should fail the neighbours of a killed process within seconds', async () => {
    running = await startRing(3, 'grpc');
    // 64 MiB: rank 1 alone must send about 85 MiB, several times what grpc-js moves in 150 ms.
    const length = (64 * 1024 * 1024) / 4;
    const pending = running.map((rank) => rank.request({ type: 'allReduce', length, seed: 1, step: 0, sampleIndices: [] }));
    await new Promise((resolve) => setTimeout(resolve, 150));
    const killedAt = performance.now();
    running[1]!.child.kill('SIGKILL');
    const [left, right] = await Promise.all([pending[0]!, pending[2]!]);
    expect(performance.now() - killedAt).toBeLessThan(5_000);
    for (const reply of [left!, right!]) {
      expect(reply['type'], JSON.stringify(reply)).toBe('error');
      expect(reply['code']).toBe('PEER_UNAVAILABLE');
      expect(reply['failedRank']).toBe(1);
      expect(reply['message']).toContain('rank 1');
    }
    expect(left!['peerRank']).toBe(1);
  });
});
