import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IdxFormatError, parseIdx, readIdxFile } from './idx.js';

/** Builds an idx file: magic with `typeByte`, big-endian dims, then `body` as given. */
function idxBytes(typeByte: number, dims: number[], body: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint8(2, typeByte);
  header.setUint8(3, dims.length);
  dims.forEach((size, d) => header.setUint32(4 + 4 * d, size));
  const out = new Uint8Array(header.byteLength + body.length);
  out.set(new Uint8Array(header.buffer), 0);
  out.set(body, header.byteLength);
  return out;
}

describe('parseIdx', () => {
  it('decodes uint8 [2, 2, 3]', () => {
    const body = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
    const parsed = parseIdx(idxBytes(0x08, [2, 2, 3], body), 'images');
    expect(parsed.dtype).toBe('uint8');
    expect(parsed.dims).toEqual([2, 2, 3]);
    expect(Array.from(parsed.data)).toEqual(Array.from(body));
  });

  it('decodes big-endian int16, int32, float32 and float64', () => {
    const cases = [
      { typeByte: 0x0b, dtype: 'int16', bytes: 2, values: [-2, 513], set: 'setInt16' },
      { typeByte: 0x0c, dtype: 'int32', bytes: 4, values: [-70000, 16909060], set: 'setInt32' },
      { typeByte: 0x0d, dtype: 'float32', bytes: 4, values: [1.5, -0.25], set: 'setFloat32' },
      { typeByte: 0x0e, dtype: 'float64', bytes: 8, values: [Math.PI, -1e300], set: 'setFloat64' },
    ] as const;
    for (const c of cases) {
      const body = new DataView(new ArrayBuffer(c.bytes * c.values.length));
      c.values.forEach((v, i) => body[c.set](i * c.bytes, v));
      const parsed = parseIdx(idxBytes(c.typeByte, [2], new Uint8Array(body.buffer)), c.dtype);
      expect(parsed.dtype).toBe(c.dtype);
      expect(Array.from(parsed.data)).toEqual(c.values);
    }
  });

  it('decompresses gzip detected by its magic bytes', () => {
    const body = Uint8Array.of(1, 2, 3, 4);
    const parsed = parseIdx(gzipSync(idxBytes(0x08, [4], body)), 'labels.gz');
    expect(Array.from(parsed.data)).toEqual([1, 2, 3, 4]);
  });

  it('EXPECTED FAILURE - bad magic', () => {
    const bytes = idxBytes(0x08, [1], Uint8Array.of(0));
    bytes[0] = 0x50;
    expect(() => parseIdx(bytes, 'x.idx')).toThrow(/invalid idx file x\.idx: bad magic number 0x50000801/);
  });

  it('EXPECTED FAILURE - unknown element type', () => {
    expect(() => parseIdx(idxBytes(0x0a, [1], Uint8Array.of(0)), 'x.idx')).toThrow(
      /unknown element type byte 0x0a/,
    );
  });

  it('EXPECTED FAILURE - shorter than the magic number', () => {
    expect(() => parseIdx(Uint8Array.of(0, 0), 'x.idx')).toThrow(/truncated: 2 bytes/);
  });

  it('EXPECTED FAILURE - truncated header', () => {
    const bytes = idxBytes(0x08, [2, 2, 3], new Uint8Array(12)).subarray(0, 10);
    expect(() => parseIdx(bytes, 'x.idx')).toThrow(/truncated header: 3 dimensions need 16 bytes, file has 10/);
  });

  it('EXPECTED FAILURE - truncated body', () => {
    const bytes = idxBytes(0x08, [2, 2, 3], new Uint8Array(11));
    expect(() => parseIdx(bytes, 'x.idx')).toThrow(/truncated: dimensions \[2, 2, 3\] of uint8 need 28 bytes, file has 27/);
  });

  it('EXPECTED FAILURE - trailing bytes', () => {
    const bytes = idxBytes(0x08, [3], new Uint8Array(5));
    expect(() => parseIdx(bytes, 'x.idx')).toThrow(/2 unexpected bytes after the data/);
  });

  it('EXPECTED FAILURE - corrupt gzip', () => {
    const bytes = gzipSync(idxBytes(0x08, [64], new Uint8Array(64)));
    const cut = bytes.subarray(0, bytes.length - 12);
    expect(() => parseIdx(cut, 'x.gz')).toThrow(IdxFormatError);
    expect(() => parseIdx(cut, 'x.gz')).toThrow(/invalid idx file x\.gz: gzip decompression failed/);
  });
});

describe('readIdxFile', () => {
  it('names the path in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-idx-'));
    const path = join(dir, 'broken-idx1-ubyte');
    writeFileSync(path, idxBytes(0x08, [10], new Uint8Array(3)));
    expect(() => readIdxFile(path)).toThrow(`invalid idx file ${path}: truncated`);
  });
});
