import { describe, expect, it } from 'vitest';

import { FrameReader, frameBytes } from './frame-reader.js';

describe('FrameReader', () => {
  const bodies = [Buffer.from('hello'), Buffer.alloc(0), Buffer.alloc(300, 7), Buffer.from([1, 2, 3])];
  const stream = Buffer.concat(bodies.map((body) => frameBytes(body)));

  for (const pieceBytes of [1, 2, 3, 5, 64, stream.length]) {
    it(`should reassemble frames from ${pieceBytes}-byte pieces`, () => {
      const frames: Buffer[] = [];
      const reader = new FrameReader(1024, (frame) => frames.push(Buffer.from(frame)), (message) => {
        throw new Error(message);
      });
      for (let start = 0; start < stream.length; start += pieceBytes) reader.push(stream.subarray(start, start + pieceBytes));
      expect(frames).toEqual(bodies);
    });
  }

  it('should give a frame split across reads an 8-byte aligned buffer', () => {
    const frames: Buffer[] = [];
    const reader = new FrameReader(1 << 20, (frame) => frames.push(frame), () => undefined);
    const frame = frameBytes(Buffer.alloc(10_000, 1));
    reader.push(frame.subarray(0, 7));
    reader.push(frame.subarray(7));
    expect(frames[0]!.byteOffset % 8).toBe(0);
  });

  it('EXPECTED FAILURE - should reject a frame over the limit', () => {
    const errors: string[] = [];
    const reader = new FrameReader(16, () => undefined, (message) => errors.push(message));
    reader.push(frameBytes(Buffer.alloc(17)));
    expect(errors).toEqual(['received a frame of 17 bytes, more than the limit of 16']);
  });
});
