import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** Element types of the idx format, keyed by the type byte of the magic number. */
const IDX_DTYPES = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
} as const;

/** Element type of an idx file. */
export type IdxDType = (typeof IDX_DTYPES)[keyof typeof IDX_DTYPES]['name'];

/** Decoded contents of an idx file; `data` is in row-major order and host byte order. */
export interface IdxArray {
  dtype: IdxDType;
  /** Size of each dimension, outermost first (for MNIST images: count, rows, cols). */
  dims: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** An idx file that cannot be decoded; the message names the file and the problem. */
export class IdxFormatError extends Error {
  override readonly name = 'IdxFormatError';

  constructor(
    /** Path or label of the file that failed to decode. */
    readonly file: string,
    problem: string,
  ) {
    super(`invalid idx file ${file}: ${problem}`);
  }
}

/**
 * Decodes an idx file (the format of the MNIST distribution): two zero bytes, a type byte, a
 * dimension count, one big-endian uint32 size per dimension, then the elements in big-endian order.
 * A gzip stream (detected by its magic bytes, not the file name) is decompressed first.
 * A uint8 result is a view into `bytes` (or into the decompressed buffer), not a copy.
 *
 * @param file - path or label used in error messages
 * @throws IdxFormatError on a bad magic number, an unknown type, a truncated header or body, or
 *   bytes after the last element
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      throw new IdxFormatError(file, `gzip decompression failed (${(error as Error).message})`);
    }
  }
  if (bytes.length < 4) {
    throw new IdxFormatError(file, `truncated: ${bytes.length} bytes, shorter than the 4-byte magic number`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = view.getUint32(0).toString(16).padStart(8, '0');
    throw new IdxFormatError(file, `bad magic number 0x${magic}; an idx file starts with two zero bytes`);
  }
  const typeByte = bytes[2]!;
  const dtype = IDX_DTYPES[typeByte as keyof typeof IDX_DTYPES];
  if (dtype === undefined) {
    throw new IdxFormatError(file, `unknown element type byte 0x${typeByte.toString(16).padStart(2, '0')}`);
  }
  const rank = bytes[3]!;
  if (rank === 0) throw new IdxFormatError(file, 'dimension count is 0');
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw new IdxFormatError(
      file,
      `truncated header: ${rank} dimensions need ${headerBytes} bytes, file has ${bytes.length}`,
    );
  }

  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < rank; d++) {
    const size = view.getUint32(4 + 4 * d);
    dims.push(size);
    count *= size;
  }
  const expectedBytes = headerBytes + count * dtype.bytes;
  if (bytes.length < expectedBytes) {
    throw new IdxFormatError(
      file,
      `truncated: dimensions [${dims.join(', ')}] of ${dtype.name} need ${expectedBytes} bytes, ` +
        `file has ${bytes.length}`,
    );
  }
  if (bytes.length > expectedBytes) {
    throw new IdxFormatError(
      file,
      `${bytes.length - expectedBytes} unexpected bytes after the data of dimensions [${dims.join(', ')}]`,
    );
  }
  return { dtype: dtype.name, dims, data: decodeElements(view, headerBytes, count, dtype.name) };
}

/**
 * Reads and decodes an idx file, plain or gzip-compressed.
 *
 * @throws IdxFormatError when the contents are invalid; the file system's error when it cannot be read
 */
export function readIdxFile(path: string): IdxArray {
  return parseIdx(readFileSync(path), path);
}

function decodeElements(
  view: DataView,
  offset: number,
  count: number,
  dtype: IdxDType,
): IdxArray['data'] {
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(view.buffer, view.byteOffset + offset, count);
    case 'int8':
      return new Int8Array(view.buffer, view.byteOffset + offset, count);
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i);
      return out;
    }
  }
}
