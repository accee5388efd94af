import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('createLogger', () => {
  it('binds run id and rank to every line', async () => {
    const sink = new PassThrough();
    const lines: string[] = [];
    sink.on('data', (chunk: Buffer) => lines.push(...chunk.toString().trim().split('\n')));
    const log = createLogger({ role: 'worker', runId: 'r1', rank: 2, worldSize: 4 }, sink);
    log.info({ step: 7 }, 'step done');
    await new Promise((resolve) => setImmediate(resolve));
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(record['runId']).toBe('r1');
    expect(record['rank']).toBe(2);
    expect(record['role']).toBe('worker');
    expect(record['level']).toBe('info');
    expect(record['msg']).toBe('step done');
    expect(record['step']).toBe(7);
  });
});
