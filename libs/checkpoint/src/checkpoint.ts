import { createHash } from 'node:crypto';

/**
 * Binary checkpoint format, version 1:
 *   bytes 0-7    magic "RTCKPT01"
 *   bytes 8-11   header length H (uint32 little-endian)
 *   bytes 12..   header: UTF-8 JSON (step, epoch, tensor table, free-form state)
 *   padding      zeros up to a multiple of 8
 *   tensors      float32 little-endian, each at the offset the table gives
 *   last 32      SHA-256 of every byte before it
 */
const MAGIC = 'RTCKPT01';
const DIGEST_BYTES = 32;
const PREFIX_BYTES = 12;

/** A checkpoint's content: named float32 tensors plus JSON-serialisable state. */
export interface Checkpoint {
  step: number;
  epoch: number;
  /** Named flat tensors, such as `parameters` and the optimiser moments. */
  tensors: Record<string, Float32Array>;
  /** Any further state (optimiser step count, config digest, RNG counters). */
  state: Record<string, unknown>;
}

interface TensorEntry {
  name: string;
  offset: number;
  length: number;
}

interface Header {
  version: 1;
  step: number;
  epoch: number;
  tensors: TensorEntry[];
  state: Record<string, unknown>;
}

/** A checkpoint file that is truncated, corrupt or of an unknown format. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/** Serialises a checkpoint into one buffer, ending with its SHA-256. */
export function encodeCheckpoint(checkpoint: Checkpoint): Buffer {
  const names = Object.keys(checkpoint.tensors).sort();
  const entries: TensorEntry[] = [];
  let dataBytes = 0;
  for (const name of names) {
    const length = checkpoint.tensors[name]!.length;
    entries.push({ name, offset: dataBytes, length });
    dataBytes = align8(dataBytes + length * 4);
  }
  const header: Header = {
    version: 1,
    step: checkpoint.step,
    epoch: checkpoint.epoch,
    tensors: entries,
    state: checkpoint.state,
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const dataStart = align8(PREFIX_BYTES + headerBytes.length);
  const out = Buffer.alloc(dataStart + dataBytes + DIGEST_BYTES);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(headerBytes.length, 8);
  headerBytes.copy(out, PREFIX_BYTES);
  for (const entry of entries) {
    const tensor = checkpoint.tensors[entry.name]!;
    const bytes = Buffer.from(tensor.buffer, tensor.byteOffset, tensor.byteLength);
    bytes.copy(out, dataStart + entry.offset);
  }
  const body = out.subarray(0, out.length - DIGEST_BYTES);
  createHash('sha256').update(body).digest().copy(out, out.length - DIGEST_BYTES);
  return out;
}

/**
 * Parses and verifies a checkpoint. Raises a CheckpointError naming `source`
 * when the magic, the checksum or the tensor table is wrong.
 */
export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < PREFIX_BYTES + DIGEST_BYTES || buf.toString('latin1', 0, 8) !== MAGIC) {
    throw new CheckpointError(`${source} is not a ringtrain checkpoint (missing magic ${MAGIC}, ${buf.length} bytes)`);
  }
  const body = buf.subarray(0, buf.length - DIGEST_BYTES);
  const expected = buf.subarray(buf.length - DIGEST_BYTES);
  const actual = createHash('sha256').update(body).digest();
  if (!actual.equals(expected)) {
    throw new CheckpointError(
      `${source} is corrupt: SHA-256 ${actual.toString('hex').slice(0, 16)}... does not match the stored ` +
        `${expected.toString('hex').slice(0, 16)}...; resume from an earlier checkpoint`,
    );
  }
  const headerLength = buf.readUInt32LE(8);
  if (PREFIX_BYTES + headerLength > body.length) {
    throw new CheckpointError(`${source} is truncated: header of ${headerLength} bytes exceeds the file`);
  }
  const header = JSON.parse(buf.toString('utf8', PREFIX_BYTES, PREFIX_BYTES + headerLength)) as Header;
  if (header.version !== 1) {
    throw new CheckpointError(`${source} has format version ${String(header.version)}; this build reads version 1`);
  }
  const dataStart = align8(PREFIX_BYTES + headerLength);
  const tensors: Record<string, Float32Array> = {};
  for (const entry of header.tensors) {
    const start = dataStart + entry.offset;
    const end = start + entry.length * 4;
    if (end > body.length) {
      throw new CheckpointError(`${source} is truncated: tensor '${entry.name}' ends at byte ${end} of ${body.length}`);
    }
    // Copy into a fresh, aligned array so the result does not alias the file buffer.
    const copy = new Float32Array(entry.length);
    new Uint8Array(copy.buffer).set(body.subarray(start, end));
    tensors[entry.name] = copy;
  }
  return { step: header.step, epoch: header.epoch, tensors, state: header.state };
}

/** File name of the checkpoint taken after `step` steps. */
export function checkpointName(step: number): string {
  return `checkpoints/step-${String(step).padStart(8, '0')}.ckpt`;
}
