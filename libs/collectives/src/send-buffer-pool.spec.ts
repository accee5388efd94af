import { describe, expect, it } from 'vitest';

import { SendBufferPool } from './send-buffer-pool.js';

describe('SendBufferPool', () => {
  it('should reuse a released buffer', () => {
    const pool = new SendBufferPool(1024, 4096);
    const first = pool.take(100);
    expect(first.length).toBe(100);
    pool.release(first);
    const second = pool.take(1024);
    expect(second.length).toBe(1024);
    expect(second.buffer).toBe(first.buffer);
  });

  it('should allocate separately beyond its capacity', () => {
    const pool = new SendBufferPool(1024, 4096);
    const large = pool.take(2048);
    expect(large.length).toBe(2048);
    pool.release(large);
    expect(pool.take(10).buffer).not.toBe(large.buffer);
  });

  it('should ignore buffers it did not hand out', () => {
    const pool = new SendBufferPool(1024, 4096);
    const foreign = Buffer.alloc(1024);
    pool.release(foreign);
    expect(pool.take(10).buffer).not.toBe(foreign.buffer);
  });

  it('should keep at most maxFreeBytes of released buffers', () => {
    const pool = new SendBufferPool(1024, 2048);
    const taken = [pool.take(1), pool.take(1), pool.take(1)];
    for (const buffer of taken) pool.release(buffer);
    const reused = new Set([pool.take(1).buffer, pool.take(1).buffer, pool.take(1).buffer]);
    const backings = taken.map((buffer) => buffer.buffer);
    expect([...reused].filter((backing) => backings.includes(backing))).toHaveLength(2);
  });
});
