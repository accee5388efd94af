import { blockMlp, copyTensors, mlpWidth, resizedModel, setBlockMlp, type TransformerModel } from '@ringtrain/models';
import { pruneUnits } from './structured.js';

/** Tensors of a block's MLP. The rest of the model is copied as it is. */
const MLP_TENSOR = /^h\d+\.mlp\./;

/**
 * Removes the least important hidden units of every block's MLP and returns a smaller dense
 * model in which each block keeps `width` units, so that one mlpHidden serves all blocks. A
 * unit's importance is that of {@link pruneUnits}: the norm of its `c_fc` row and bias times the
 * norm of its `c_proj` column.
 *
 * @throws RangeError when `width` is not an integer from 1 to the current width
 */
export function pruneBlockUnits(model: TransformerModel, width: number): { model: TransformerModel; kept: number[][] } {
  const current = mlpWidth(model.config);
  if (!Number.isInteger(width) || width < 1 || width > current) {
    throw new RangeError(`each block's MLP has ${current} hidden units, so it can keep 1 to ${current}, got ${width}`);
  }
  const small = resizedModel(model, { mlpHidden: width === 4 * model.config.nEmbd ? undefined : width });
  copyTensors(model, small, { source: (name) => (MLP_TENSOR.test(name) ? undefined : name) });
  const kept: number[][] = [];
  for (let l = 0; l < model.config.nLayer; l++) {
    const pruned = pruneUnits(blockMlp(model, l), [width]);
    setBlockMlp(small, l, pruned);
    kept.push(pruned.kept[0]!);
  }
  return { model: small, kept };
}
