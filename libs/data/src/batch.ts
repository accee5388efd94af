import { Philox, RandomStream } from '@ringtrain/random';

/** Images in the layout of {@link MnistData}: `count` samples of `rows * cols` bytes. */
export interface ImageSet {
  images: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

/**
 * Random-shift augmentation. Each sample moves by whole pixels, at most `maxShift` in x and in y,
 * with zeros shifted in. The shift is drawn from (seed, step, sample id) alone, so a sample gets
 * the same shift at a step on every rank and at every world size.
 */
export interface ShiftAugment {
  /** Largest shift in pixels along each axis; 0 disables the augmentation. */
  maxShift: number;
  /** Run seed, an integer in [0, 2^32). */
  seed: number;
  /** Global optimiser step, so that each epoch draws new shifts. */
  step: number;
}

/** `PIXEL_SCALE[v]` is `v / 255` rounded to float32, the scaling of torchvision's `ToTensor`. */
const PIXEL_SCALE = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/**
 * Writes the images `sampleIds` into `out` as float32 pixels in [0, 1], one row of `rows * cols`
 * per sample, optionally shifted at random.
 *
 * @param out - exactly `sampleIds.length * rows * cols` floats; pass a `subarray` for a short batch
 * @throws RangeError on a wrong `out` length, a sample id outside the set, or a negative `maxShift`
 */
export function fillImageBatch(
  out: Float32Array,
  set: ImageSet,
  sampleIds: ArrayLike<number>,
  augment?: ShiftAugment,
): void {
  const pixels = set.rows * set.cols;
  checkBatchLength('image', out.length, sampleIds.length, pixels, 'rows * cols');
  const maxShift = augment?.maxShift ?? 0;
  if (!Number.isInteger(maxShift) || maxShift < 0) {
    throw new RangeError(`maxShift must be an integer >= 0, got ${maxShift}`);
  }
  for (let n = 0; n < sampleIds.length; n++) {
    const id = checkSampleId(sampleIds[n]!, set.count);
    const src = id * pixels;
    const dst = n * pixels;
    if (maxShift === 0) {
      for (let i = 0; i < pixels; i++) out[dst + i] = PIXEL_SCALE[set.images[src + i]!]!;
      continue;
    }
    const rng = new Philox(augment!.seed, RandomStream.shiftAugment, augment!.step, id);
    const span = 2 * maxShift + 1;
    const dx = Math.floor(rng.uniform(0) * span) - maxShift;
    const dy = Math.floor(rng.uniform(1) * span) - maxShift;
    writeShifted(out, dst, set, src, dx, dy);
  }
}

/**
 * Writes the labels of `sampleIds` into `out` as int64, the type of the training graph's `labels`
 * input.
 *
 * @param out - exactly `sampleIds.length` elements
 * @throws RangeError on a wrong `out` length or a sample id outside `labels`
 */
export function fillLabelBatch(
  out: BigInt64Array,
  labels: Uint8Array,
  sampleIds: ArrayLike<number>,
): void {
  checkBatchLength('label', out.length, sampleIds.length, 1, '1');
  for (let n = 0; n < sampleIds.length; n++) {
    out[n] = BigInt(labels[checkSampleId(sampleIds[n]!, labels.length)]!);
  }
}

/** Writes one image moved by (dx, dy) pixels, with zeros where no source pixel lands. */
function writeShifted(
  out: Float32Array,
  dst: number,
  set: ImageSet,
  src: number,
  dx: number,
  dy: number,
): void {
  const { rows, cols, images } = set;
  // Output column x reads source column x - dx, so only [xStart, xEnd) has a source pixel.
  const xStart = Math.max(0, dx);
  const xEnd = Math.min(cols, cols + dx);
  for (let y = 0; y < rows; y++) {
    const row = dst + y * cols;
    const sourceY = y - dy;
    if (sourceY < 0 || sourceY >= rows) {
      out.fill(0, row, row + cols);
      continue;
    }
    const sourceRow = src + sourceY * cols - dx;
    out.fill(0, row, row + xStart);
    for (let x = xStart; x < xEnd; x++) out[row + x] = PIXEL_SCALE[images[sourceRow + x]!]!;
    out.fill(0, row + xEnd, row + cols);
  }
}

function checkBatchLength(
  what: string,
  length: number,
  samples: number,
  perSample: number,
  perSampleName: string,
): void {
  if (length !== samples * perSample) {
    throw new RangeError(
      `${what} batch buffer has ${length} elements, expected ${samples * perSample} ` +
        `(${samples} samples x ${perSampleName} = ${perSample}); pass out.subarray(0, ` +
        `${samples * perSample}) for a short batch`,
    );
  }
}

function checkSampleId(id: number, count: number): number {
  if (!Number.isInteger(id) || id < 0 || id >= count) {
    throw new RangeError(`sample id ${id} is outside the data set of ${count} samples`);
  }
  return id;
}
