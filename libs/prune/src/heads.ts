import {
  attentionWidth,
  copyTensors,
  headSizeOf,
  resizedModel,
  transformerTensor,
  type TransformerModel,
} from '@ringtrain/models';
import { indicesOfLargest } from './ranking.js';

/** Tensors whose rows or columns belong to single heads. The rest of the model is copied as it is. */
const HEAD_TENSOR = /^h\d+\.attn\.(c_attn\.(weight|bias)|c_proj\.weight)$/;

/**
 * Returns the importance of each attention head of block `l`: the L2 norm of the head's query,
 * key and value rows of `c_attn` (weights and biases) times the L2 norm of its columns of
 * `c_proj`. A head that reads little or writes little to the residual stream counts little.
 */
export function headImportance(model: TransformerModel, l: number): Float64Array {
  const { config } = model;
  const c = config.nEmbd;
  const a = attentionWidth(config);
  const hs = headSizeOf(config);
  const w = transformerTensor(model, `h${l}.attn.c_attn.weight`);
  const b = config.bias === false ? undefined : transformerTensor(model, `h${l}.attn.c_attn.bias`);
  const proj = transformerTensor(model, `h${l}.attn.c_proj.weight`);
  return Float64Array.from({ length: config.nHead }, (_, h) => {
    let incoming = 0;
    for (const r of headRows(h, hs, a)) {
      incoming += (b?.[r] ?? 0) ** 2;
      for (let i = 0; i < c; i++) incoming += w[r * c + i]! ** 2;
    }
    let outgoing = 0;
    for (let o = 0; o < c; o++) for (let j = h * hs; j < (h + 1) * hs; j++) outgoing += proj[o * a + j]! ** 2;
    return Math.sqrt(incoming * outgoing);
  });
}

/** Returns the rows of `c_attn` [3 a, nEmbd] that head `h` owns: its query, key and value rows. */
function headRows(h: number, hs: number, a: number): number[] {
  const rows: number[] = [];
  for (const part of [0, 1, 2]) for (let r = 0; r < hs; r++) rows.push(part * a + h * hs + r);
  return rows;
}

/**
 * Removes the least important attention heads ({@link headImportance}) and returns a smaller
 * dense model in which every block keeps `keep` heads, in their original order, so that one
 * nHead serves all blocks. The head size stays, so the attention width becomes keep * headSize.
 *
 * @throws RangeError when `keep` is not an integer from 1 to nHead
 */
export function pruneHeads(model: TransformerModel, keep: number): { model: TransformerModel; kept: number[][] } {
  const { config } = model;
  if (!Number.isInteger(keep) || keep < 1 || keep > config.nHead) {
    throw new RangeError(`each block has ${config.nHead} attention heads, so it can keep 1 to ${config.nHead}, got ${keep}`);
  }
  const hs = headSizeOf(config);
  const a = attentionWidth(config);
  const small = resizedModel(model, { nHead: keep, headSize: keep * hs === config.nEmbd ? undefined : hs });
  copyTensors(model, small, { source: (name) => (HEAD_TENSOR.test(name) ? undefined : name) });
  const kept: number[][] = [];
  for (let l = 0; l < config.nLayer; l++) {
    const heads = indicesOfLargest(headImportance(model, l), keep);
    kept.push(heads);
    const rows = [0, 1, 2].flatMap((part) => heads.flatMap((h) => headRows(h, hs, a).slice(part * hs, (part + 1) * hs)));
    copyRows(transformerTensor(model, `h${l}.attn.c_attn.weight`), transformerTensor(small, `h${l}.attn.c_attn.weight`), rows, config.nEmbd);
    if (config.bias !== false) copyRows(transformerTensor(model, `h${l}.attn.c_attn.bias`), transformerTensor(small, `h${l}.attn.c_attn.bias`), rows, 1);
    const columns = heads.flatMap((h) => Array.from({ length: hs }, (_, j) => h * hs + j));
    copyColumns(transformerTensor(model, `h${l}.attn.c_proj.weight`), transformerTensor(small, `h${l}.attn.c_proj.weight`), columns, a);
  }
  return { model: small, kept };
}

/** Copies rows `rows` of a row-major matrix with `width` columns into consecutive rows of `to`. */
function copyRows(from: Float32Array, to: Float32Array, rows: readonly number[], width: number): void {
  rows.forEach((r, i) => to.set(from.subarray(r * width, (r + 1) * width), i * width));
}

/** Copies columns `columns` of a row-major matrix with `width` columns into consecutive columns of `to`. */
function copyColumns(from: Float32Array, to: Float32Array, columns: readonly number[], width: number): void {
  const rows = from.length / width;
  for (let r = 0; r < rows; r++) columns.forEach((c, j) => (to[r * columns.length + j] = from[r * width + c]!));
}
