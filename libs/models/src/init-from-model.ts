import { readWeights, type StoredWeight } from '@ringtrain/graph';
import type { ParameterSpec } from './parameters.js';

/** Options of {@link initFromModel}. */
export interface InitFromModelOptions {
  /**
   * Source block of each student block: `blocks[i]` is the block of the model file that block
   * `h{i}` of the student starts from. When omitted, equal depths map block to block, and a
   * source k times deeper gives every k-th block (0, k, 2k, ...), DistilBERT's choice.
   */
  blocks?: readonly number[];
}

/** Result of {@link initFromModel}: the block mapping and the tensors copied. */
export interface InitFromModelResult {
  /** Source block of each student block; empty for models without blocks. */
  blocks: number[];
  /** Student tensors that were copied, each with the source tensor it came from. */
  copied: { name: string; from: string }[];
}

const BLOCK = /^h(\d+)\./;

/** Error for a model file whose tensors do not fit the student. */
export class InitFromModelError extends Error {
  override name = 'InitFromModelError';
}

/**
 * Overwrites `params` (the student's flat buffer, laid out by `specs`) with the tensors of a
 * model file, matched by name. Transformer blocks are renumbered through `options.blocks`.
 * Weights that the file stores as [in, out] for MatMul, or for a Gemm without transB, are
 * transposed back to the [out, in] layout of the student. A position table `wpe` may come from
 * a longer context: its first rows are taken, and an untied `lm_head.weight` may come from a tied
 * file's `wte`. Every student tensor must be found with its shape,
 * and nothing is written unless all are.
 *
 * @throws InitFromModelError naming the tensor when one is missing or its shape differs, or when
 *   the block mapping does not fit
 * @throws OnnxFormatError when the bytes are not an ONNX model
 */
export function initFromModel(
  specs: readonly ParameterSpec[],
  params: Float32Array,
  bytes: Uint8Array,
  options: InitFromModelOptions = {},
): InitFromModelResult {
  const weights = readWeights(bytes);
  const studentBlocks = blockCount(specs.map((s) => s.name));
  const sourceBlocks = blockCount([...weights.keys()]);
  if (studentBlocks > 0 && sourceBlocks === 0) {
    throw new InitFromModelError(
      `the model file has no transformer blocks named h0.*, h1.*, ..., so it is not a ringtrain transformer. ` +
        `Its float tensors include: ${[...weights.keys()].slice(0, 8).join(', ') || 'none'}. Initialise from a model that ringtrain exported.`,
    );
  }
  const blocks = blockMapping(studentBlocks, sourceBlocks, options.blocks);
  const copied: InitFromModelResult['copied'] = [];
  const values: Float32Array[] = [];
  for (const spec of specs) {
    let from = blockSourceName(spec.name, blocks);
    // An untied head starts as the token embedding of a tied model, the function that model computes.
    if (from === 'lm_head.weight' && !weights.has(from) && weights.has('wte')) from = 'wte';
    const weight = weights.get(from);
    if (weight === undefined) {
      const known = [...weights.keys()].slice(0, 8).join(', ');
      throw new InitFromModelError(
        `the model file has no tensor '${from}' for the student's '${spec.name}'. ` +
          `Its float tensors include: ${known || 'none'}. Initialise from a model of the same family.`,
      );
    }
    values.push(rowsLayout(weight, spec));
    copied.push({ name: spec.name, from });
  }
  // Every tensor is checked before the first one is written, so a failure leaves `params` as it was.
  specs.forEach((spec, i) => params.set(values[i]!, spec.offset));
  return { blocks, copied };
}

/** Returns the number of transformer blocks `h{i}.*` among `names`. */
export function blockCount(names: readonly string[]): number {
  let count = 0;
  for (const name of names) {
    const m = BLOCK.exec(name);
    if (m !== null) count = Math.max(count, Number(m[1]) + 1);
  }
  return count;
}

function blockMapping(student: number, source: number, requested: readonly number[] | undefined): number[] {
  if (requested !== undefined && requested.length > 0) {
    if (requested.length !== student) {
      throw new InitFromModelError(
        `init.blocks lists ${requested.length} source blocks, but the student has ${student}. Give one per student block.`,
      );
    }
    for (const b of requested) {
      if (!Number.isInteger(b) || b < 0 || b >= source) {
        throw new InitFromModelError(`init.blocks names block ${b}, but the model file has blocks 0 to ${source - 1}.`);
      }
    }
    return [...requested];
  }
  if (student === 0) return [];
  if (source < student || source % student !== 0) {
    throw new InitFromModelError(
      `the model file has ${source} blocks and the student ${student}, so no block mapping follows from the depths. ` +
        `Set init.blocks to ${student} source block numbers, for example [${Array.from({ length: student }, (_, i) => Math.min(i, Math.max(source - 1, 0))).join(',')}].`,
    );
  }
  const step = source / student;
  return Array.from({ length: student }, (_, i) => i * step);
}

/**
 * Returns the source tensor name of a tensor: `h{i}.rest` becomes `h{blocks[i]}.rest`, and a
 * name outside the blocks stays as it is.
 */
export function blockSourceName(name: string, blocks: readonly number[]): string {
  const m = BLOCK.exec(name);
  return m === null ? name : `h${blocks[Number(m[1])]}.${name.slice(m[0].length)}`;
}

/** Returns whether the file stores this weight as [in, out], which MatMul and Gemm without transB read. */
function storedTransposed(weight: StoredWeight): boolean {
  return weight.uses.some((u) => u.input === 1 && (u.op === 'MatMul' || (u.op === 'Gemm' && u.transB !== 1)));
}

/** Returns a stored weight's shape in the [out, in] layout of the training graphs. */
export function outInShape(weight: StoredWeight): number[] {
  return weight.shape.length === 2 && storedTransposed(weight) ? [weight.shape[1]!, weight.shape[0]!] : [...weight.shape];
}

/** Returns the weight's values in the student's layout, or throws naming both shapes. */
function rowsLayout(weight: StoredWeight, spec: ParameterSpec): Float32Array {
  let { shape, data } = weight;
  if (shape.length === 2 && storedTransposed(weight)) {
    const [rows, cols] = shape as [number, number];
    const t = new Float32Array(data.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = data[r * cols + c]!;
    shape = [cols, rows];
    data = t;
  }
  const want = spec.shape;
  const fits = shape.length === want.length && shape.every((d, i) => d === want[i]);
  if (fits) return data;
  // A longer position table serves a shorter context: its first rows are the same positions.
  if (spec.name === 'wpe' && shape.length === 2 && shape[1] === want[1] && shape[0]! >= want[0]!) {
    return data.subarray(0, spec.size);
  }
  throw new InitFromModelError(
    `tensor '${weight.name}' of the model file is [${shape.join(', ')}] (in the [out, in] layout), ` +
      `but the student's '${spec.name}' is [${want.join(', ')}]. Make the student's sizes match the file's, ` +
      'or train this student from its own initialisation.',
  );
}
