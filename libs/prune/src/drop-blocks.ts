import { blockSourceName, copyTensors, resizedModel, type TransformerModel } from '@ringtrain/models';

/**
 * Returns the model with only the blocks `keep` (ascending block numbers), renumbered from 0, and
 * the embeddings, final LayerNorm and head unchanged. Without a block, its input passes to the
 * next block as it is, as if its attention and MLP added 0 to the residual stream.
 *
 * @throws RangeError when a block number is outside the model, repeated or out of order, or none is kept
 */
export function dropBlocks(model: TransformerModel, keep: readonly number[]): TransformerModel {
  const { nLayer } = model.config;
  if (keep.length === 0) throw new RangeError(`keep at least one of the model's ${nLayer} blocks`);
  keep.forEach((b, i) => {
    if (!Number.isInteger(b) || b < 0 || b >= nLayer) {
      throw new RangeError(`block ${b} does not exist: the model has blocks 0 to ${nLayer - 1}`);
    }
    if (i > 0 && b <= keep[i - 1]!) {
      throw new RangeError(`list the blocks to keep in increasing order without repeats, got ${keep.join(',')}`);
    }
  });
  const shallow = resizedModel(model, { nLayer: keep.length });
  copyTensors(model, shallow, { source: (name) => blockSourceName(name, keep) });
  return shallow;
}

/**
 * Returns the blocks that remain when `drop` is removed from a model of `nLayer` blocks.
 *
 * @throws RangeError when a block number is outside the model or every block would go
 */
export function blocksWithout(nLayer: number, drop: readonly number[]): number[] {
  for (const b of drop) {
    if (!Number.isInteger(b) || b < 0 || b >= nLayer) {
      throw new RangeError(`block ${b} does not exist: the model has blocks 0 to ${nLayer - 1}`);
    }
  }
  const keep = Array.from({ length: nLayer }, (_, b) => b).filter((b) => !drop.includes(b));
  if (keep.length === 0) throw new RangeError(`dropping blocks ${drop.join(',')} leaves none of the model's ${nLayer} blocks; keep at least one`);
  return keep;
}
