import { endianness } from 'node:os';

/**
 * Header of one ring chunk: the fields of `ringtrain.v1.RingChunk` without the payload. Numbers
 * are element counts and indices, never bytes.
 */
export interface ChunkHeader {
  ringEpoch: number;
  /** Counter of collective calls within the ring epoch, the same on every rank. */
  sequence: number;
  /** Training step the collective belongs to. */
  step: number;
  /** `ringPb.RingChunk_Phase` value. */
  phase: number;
  /** Position within the phase. */
  ringStep: number;
  segment: number;
  chunkIndex: number;
  /** First element of the chunk in the flat buffer. */
  offset: number;
  /** Elements in the payload. */
  length: number;
  /** `ringPb.RingChunk_DType` value; only FLOAT32 (0) is sent. */
  dtype: number;
}

/** Result of decoding one received `RingChunk`. */
export type DecodedChunk =
  | {
      ok: true;
      header: ChunkHeader;
      /** View of the received bytes when they are 4-byte aligned, otherwise an aligned copy. */
      payload: Float32Array;
      /** Whether the payload had to be copied to align it. */
      copied: boolean;
    }
  | { ok: false; reason: string };

/** Upper bound on the bytes an encoded header takes before the payload, padding included. */
export const MAX_HEADER_BYTES = 96;

/** Payload tag: field 15, wire type 2 (length-delimited). */
const PAYLOAD_TAG = (15 << 3) | 2;

if (endianness() !== 'LE') {
  // NOTE: payloads are the raw bytes of a Float32Array, which are little-endian only on a
  // little-endian host. A big-endian port needs byte swapping in encode and decode.
  throw new Error(`@ringtrain/collectives requires a little-endian host, got ${endianness()}`);
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size += 1;
  }
  return size;
}

function writeVarint(target: Uint8Array, position: number, value: number): number {
  while (value >= 128) {
    target[position++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  target[position++] = value;
  return position;
}

/**
 * Writes a value below 128 as a varint of exactly `width` bytes. Protobuf parsers accept such
 * non-minimal varints (up to 10 bytes); `RingChunk.decode` of ts-proto is tested on them.
 */
function writePaddedVarint(target: Uint8Array, position: number, value: number, width: number): number {
  if (width === 1) {
    target[position++] = value;
    return position;
  }
  target[position++] = value | 0x80;
  for (let i = 1; i < width - 1; i++) target[position++] = 0x80;
  target[position++] = 0;
  return position;
}

/** Placement of the encoded message, used to align the payload for the receiver. */
export interface ChunkEncoding {
  /** Bytes reserved in front of the message for the caller's framing (written by the caller). */
  prefixBytes: number;
  /**
   * Byte offset, modulo 4, at which the receiver's transport will place the first byte of the
   * message. grpc-js 1.14 reassembles each received message behind its 5-byte frame header in a
   * fresh buffer, so gRPC uses 5.
   */
  receiverMessageOffset: number;
  /** Returns an uninitialised buffer of exactly the requested bytes. @defaultValue Buffer.allocUnsafe */
  allocate?: (bytes: number) => Buffer;
}

/**
 * Encodes one chunk as a `ringtrain.v1.RingChunk` protobuf message, with `prefixBytes` of room in
 * front. The payload is copied once, as raw little-endian float32 bytes, into field 15.
 *
 * Fields 1-9 are always written (zero values too, which proto3 parsers accept), dtype only when it
 * is not FLOAT32. The phase varint is padded to 1-4 bytes so that the payload starts at a multiple
 * of 4 bytes in the receiver's buffer, and a Float32Array can view it without a copy.
 */
export function encodeRingChunk(header: ChunkHeader, payload: Float32Array, encoding: ChunkEncoding): Buffer {
  const payloadBytes = payload.length * 4;
  const varintFields: Array<[number, number]> = [
    [1, header.ringEpoch],
    [2, header.sequence],
    [3, header.step],
    [5, header.ringStep],
    [6, header.segment],
    [7, header.chunkIndex],
    [8, header.offset],
    [9, header.length],
  ];
  if (header.dtype !== 0) varintFields.push([10, header.dtype]);
  let headerBytes = 2 + 1 + varintSize(payloadBytes); // phase (unpadded), payload tag and size
  for (const [, value] of varintFields) headerBytes += 1 + varintSize(value);
  const padding = (4 - ((encoding.receiverMessageOffset + headerBytes) % 4)) % 4;

  // Header fields, in field order.
  const frameBytes = encoding.prefixBytes + headerBytes + padding + payloadBytes;
  const frame = encoding.allocate !== undefined ? encoding.allocate(frameBytes) : Buffer.allocUnsafe(frameBytes);
  let position = encoding.prefixBytes;
  for (const [field, value] of varintFields.slice(0, 3)) {
    frame[position++] = field << 3;
    position = writeVarint(frame, position, value);
  }
  frame[position++] = 4 << 3;
  position = writePaddedVarint(frame, position, header.phase, 1 + padding);
  for (const [field, value] of varintFields.slice(3)) {
    frame[position++] = field << 3;
    position = writeVarint(frame, position, value);
  }
  frame[position++] = PAYLOAD_TAG;
  position = writeVarint(frame, position, payloadBytes);

  // Payload: the one copy on the sending side.
  frame.set(new Uint8Array(payload.buffer, payload.byteOffset, payloadBytes), position);
  return frame;
}

class MalformedChunk extends Error {}

/** Reads a varint of up to 10 bytes as a safe integer. */
function readVarint(bytes: Uint8Array, cursor: { position: number }): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (cursor.position >= bytes.length) throw new MalformedChunk('message ends inside a varint');
    const byte = bytes[cursor.position++]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      if (!Number.isSafeInteger(value)) throw new MalformedChunk(`varint ${value} exceeds 2^53 - 1`);
      return value;
    }
    scale *= 128;
  }
  throw new MalformedChunk('varint longer than 10 bytes');
}

const HEADER_FIELDS: Record<number, keyof ChunkHeader> = {
  1: 'ringEpoch',
  2: 'sequence',
  3: 'step',
  4: 'phase',
  5: 'ringStep',
  6: 'segment',
  7: 'chunkIndex',
  8: 'offset',
  9: 'length',
  10: 'dtype',
};

/**
 * Decodes a `ringtrain.v1.RingChunk` message by hand, taking the payload as a view of `message`
 * and copying it only when its byte offset is not a multiple of 4. Fields may come in any order
 * and unknown fields are skipped, as protobuf requires. Never throws: a malformed message returns
 * `{ ok: false, reason }`.
 */
export function decodeRingChunk(message: Uint8Array): DecodedChunk {
  const header: ChunkHeader = {
    ringEpoch: 0,
    sequence: 0,
    step: 0,
    phase: 0,
    ringStep: 0,
    segment: 0,
    chunkIndex: 0,
    offset: 0,
    length: 0,
    dtype: 0,
  };
  let payloadStart = 0;
  let payloadBytes = 0;
  const cursor = { position: 0 };
  try {
    while (cursor.position < message.length) {
      const tag = readVarint(message, cursor);
      const field = Math.floor(tag / 8);
      const wireType = tag % 8;
      const headerField = HEADER_FIELDS[field];
      if (headerField !== undefined && wireType === 0) {
        header[headerField] = readVarint(message, cursor);
      } else if (field === 15 && wireType === 2) {
        payloadBytes = readVarint(message, cursor);
        payloadStart = cursor.position;
        cursor.position += payloadBytes;
      } else if (headerField !== undefined || field === 15) {
        throw new MalformedChunk(`field ${field} has wire type ${wireType}`);
      } else {
        skipField(message, cursor, wireType);
      }
      if (cursor.position > message.length) throw new MalformedChunk('message ends inside a field');
    }
  } catch (error) {
    if (error instanceof MalformedChunk) return { ok: false, reason: error.message };
    throw error;
  }
  if (payloadBytes % 4 !== 0) {
    return { ok: false, reason: `payload of ${payloadBytes} bytes is not a whole number of float32 elements` };
  }

  // Payload: a view when aligned, otherwise one copy.
  const absoluteStart = message.byteOffset + payloadStart;
  if (absoluteStart % 4 === 0) {
    return { ok: true, header, payload: new Float32Array(message.buffer, absoluteStart, payloadBytes / 4), copied: false };
  }
  const payload = new Float32Array(payloadBytes / 4);
  new Uint8Array(payload.buffer).set(message.subarray(payloadStart, payloadStart + payloadBytes));
  return { ok: true, header, payload, copied: true };
}

function skipField(message: Uint8Array, cursor: { position: number }, wireType: number): void {
  switch (wireType) {
    case 0:
      readVarint(message, cursor);
      return;
    case 1:
      cursor.position += 8;
      return;
    case 2: {
      const length = readVarint(message, cursor);
      cursor.position += length;
      return;
    }
    case 5:
      cursor.position += 4;
      return;
    default:
      throw new MalformedChunk(`unsupported wire type ${wireType}`);
  }
}
