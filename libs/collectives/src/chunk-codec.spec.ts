import { ringPb } from '@ringtrain/proto';
import { describe, expect, it } from 'vitest';

import { type ChunkHeader, decodeRingChunk, encodeRingChunk } from './chunk-codec.js';

const header: ChunkHeader = {
  ringEpoch: 7,
  sequence: 2 ** 40 + 3,
  step: 123_456,
  phase: ringPb.RingChunk_Phase.ALL_GATHER,
  ringStep: 2,
  segment: 3,
  chunkIndex: 0,
  offset: 5_000_000_000,
  length: 5,
  dtype: 0,
};
const payload = new Float32Array([1.5, -2, 3.25, Number.MIN_VALUE, -0]);

/** Decodes `bytes`, asserting that they are a valid message. */
function decodeValid(bytes: Uint8Array) {
  const decoded = decodeRingChunk(bytes);
  if (!decoded.ok) throw new Error(`expected a valid RingChunk, got: ${decoded.reason}`);
  return decoded;
}

/** Copies `bytes` into a fresh buffer at byte offset `offset`. */
function placeAt(bytes: Uint8Array, offset: number): Uint8Array {
  const target = new Uint8Array(new ArrayBuffer(bytes.length + 8), offset, bytes.length);
  target.set(bytes);
  return target;
}

describe('encodeRingChunk', () => {
  for (const receiverMessageOffset of [0, 1, 2, 3, 5]) {
    it(`should write a RingChunk that ts-proto decodes, receiver offset ${receiverMessageOffset}`, () => {
      const bytes = encodeRingChunk(header, payload, { prefixBytes: 0, receiverMessageOffset });
      const decoded = ringPb.RingChunk.decode(bytes);
      const { payload: bytesOut, ...fields } = decoded;
      expect(fields).toEqual(header);
      expect(new Float32Array(new Uint8Array(bytesOut).buffer)).toEqual(payload);
    });

    it(`should align the payload for receiver offset ${receiverMessageOffset}`, () => {
      const bytes = encodeRingChunk(header, payload, { prefixBytes: 0, receiverMessageOffset });
      const received = decodeRingChunk(placeAt(bytes, receiverMessageOffset));
      expect(received.ok).toBe(true);
      if (!received.ok) return;
      expect(received.copied).toBe(false);
      expect(received.payload).toEqual(payload);
    });
  }

  it('should leave room for a prefix', () => {
    const bytes = encodeRingChunk(header, payload, { prefixBytes: 4, receiverMessageOffset: 0 });
    const decoded = ringPb.RingChunk.decode(bytes.subarray(4));
    expect(decoded.sequence).toBe(header.sequence);
  });

  it('should copy the payload out of the source buffer', () => {
    const source = payload.slice();
    const bytes = encodeRingChunk(header, source, { prefixBytes: 0, receiverMessageOffset: 0 });
    source.fill(9);
    expect(decodeValid(bytes).payload).toEqual(payload);
  });
});

describe('decodeRingChunk', () => {
  it('should read messages written by ts-proto', () => {
    const bytes = ringPb.RingChunk.encode({ ...header, payload: Buffer.from(payload.buffer) }).finish();
    const decoded = decodeRingChunk(bytes);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.header).toEqual(header);
    expect(decoded.payload).toEqual(payload);
  });

  it('should read a zero-valued header with no fields present', () => {
    const decoded = decodeValid(new Uint8Array(0));
    expect(decoded.header.length).toBe(0);
    expect(decoded.payload.length).toBe(0);
  });

  it('should copy a payload at an unaligned offset', () => {
    const bytes = encodeRingChunk(header, payload, { prefixBytes: 0, receiverMessageOffset: 0 });
    const decoded = decodeValid(placeAt(bytes, 1));
    expect(decoded.copied).toBe(true);
    expect(decoded.payload).toEqual(payload);
  });

  it('should skip unknown fields of every wire type', () => {
    const known = encodeRingChunk(header, payload, { prefixBytes: 0, receiverMessageOffset: 0 });
    const unknown = [0x58, 0x05, 0x61, ...new Array(8).fill(1), 0x6a, 0x02, 9, 9, 0x75, 1, 2, 3, 4]; // fields 11-14
    expect(decodeValid(new Uint8Array([...unknown, ...known])).header).toEqual(header);
  });

  const malformed: Array<[string, number[], string]> = [
    ['a truncated varint', [0x08, 0x80], 'ends inside a varint'],
    ['a varint over 10 bytes', [0x08, ...new Array(11).fill(0x80)], 'longer than 10 bytes'],
    ['a payload past the end', [0x7a, 0x08, 0, 0, 0, 0], 'ends inside a field'],
    ['a payload of 3 bytes', [0x7a, 0x03, 1, 2, 3], 'not a whole number of float32'],
    ['a header field as bytes', [0x0a, 0x01, 0], 'field 1 has wire type 2'],
    ['a group', [0x5b], 'unsupported wire type 3'],
  ];
  for (const [name, bytes, reason] of malformed) {
    it(`EXPECTED FAILURE - should report ${name}`, () => {
      const decoded = decodeRingChunk(new Uint8Array(bytes));
      expect(decoded.ok).toBe(false);
      if (decoded.ok) return;
      expect(decoded.reason).toContain(reason);
    });
  }
});
