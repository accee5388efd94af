import { afterEach, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { ComputeHost } from './compute-host.js';
import { STAT_COUNT, STAT_LOSS_SUM } from './compute-protocol.js';

/** The compiled thread module: the worker project's test target builds it first. */
const THREAD_URL = new URL('../dist/compute-thread.js', import.meta.url);

const hosts: ComputeHost[] = [];
afterEach(async () => {
  for (const host of hosts.splice(0)) await host.terminate();
});

async function gradientsOf(overrides: string[], worldSize: number, rank: number, step: number) {
  const config = resolveRunConfig({ model: { hidden: [32], dropout: 0.25, inputDropout: 0.1 }, train: { steps: 4 } }, overrides);
  const host = new ComputeHost({ config, rank, worldSize, threads: 1 }, THREAD_URL);
  hosts.push(host);
  const layout = await host.call({ type: 'setup' }, 'setup');
  await host.call({ type: 'initParameters' }, 'done');
  await host.call({ type: 'compute', step }, 'computed');
  return new Float32Array(layout.gradients).slice();
}

function maxRelativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

describe('compute thread', () => {
  it('accumulated micro-batches sum to the whole batch', async () => {
    const whole = await gradientsOf(['train.batchSize=64'], 1, 0, 0);
    const micro = await gradientsOf(['train.batchSize=64', 'train.accumulate=4'], 1, 0, 0);
    const n = whole.length - 3;
    // Summation order differs (four Gemms of 16 rows against one of 64): float32 rounding only.
    expect(maxRelativeDifference(micro.subarray(0, n), whole.subarray(0, n))).toBeLessThan(1e-5);
    expect(micro[n + STAT_COUNT]).toBe(64);
    expect(micro[n + STAT_LOSS_SUM]).toBeCloseTo(whole[n + STAT_LOSS_SUM]!, 3);
  });

  it('rank shards add up to the single-process gradient', async () => {
    const whole = await gradientsOf(['train.batchSize=60'], 1, 0, 2);
    const parts = await Promise.all([0, 1, 2].map((rank) => gradientsOf(['train.batchSize=60'], 3, rank, 2)));
    const sum = new Float32Array(whole.length);
    for (const part of parts) for (let i = 0; i < sum.length; i++) sum[i]! += part[i]!;
    const n = whole.length - 3;
    expect(maxRelativeDifference(sum.subarray(0, n), whole.subarray(0, n))).toBeLessThan(1e-5);
    expect(parts.map((p) => p[n + STAT_COUNT])).toEqual([20, 20, 20]);
  });

  it('a rank without samples in the last batch adds nothing', async () => {
    // 60,000 training images in global batches of 59,997 over 7 ranks: the second step has 3 samples.
    const overrides = ['train.batchSize=59997', 'model.hidden=8'];
    const idle = await gradientsOf(overrides, 7, 5, 1);
    const n = idle.length - 3;
    expect(idle[n + STAT_COUNT]).toBe(0);
    expect(idle.subarray(0, n).every((g) => g === 0)).toBe(true);
    const busy = await gradientsOf(overrides, 7, 0, 1);
    expect(busy[n + STAT_COUNT]).toBe(1);
  });
});
