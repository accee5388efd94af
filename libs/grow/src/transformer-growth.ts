import {
  blockMlp,
  blockSourceName,
  copyTensors,
  initParameters,
  mlpWidth,
  resizedModel,
  setBlockMlp,
  transformerParameters,
  transformerTensor,
  type TransformerModel,
} from '@ringtrain/models';
import { widenMlp } from './mlp-growth.js';

/** Options of {@link deepenTransformer}. */
export interface DeepenOptions {
  /** Seed of the initialisation of the new block's tensors, as a run with this seed draws them. */
  seed: number;
}

/** Options of {@link widenTransformerMlp}. */
export interface WidenMlpOptions {
  /** Seed of the choice of replicated units and of the noise. Block l uses seed + l. */
  seed: number;
  /**
   * Standard deviation of the noise on the replicas' outgoing weights, relative to the standard
   * deviation of the block's `c_proj` weights. 0 gives exact copies. @defaultValue 0.01
   */
  noise?: number;
}

/** The projections that write a block's attention and MLP outputs into the residual stream. */
const RESIDUAL_WRITES = ['attn.c_proj.weight', 'attn.c_proj.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias'];

/**
 * Inserts a new block after block `after` whose attention and MLP add exactly 0 to the residual
 * stream: its output projections `c_proj` (weights and biases) are 0, so the block passes its
 * input on unchanged and the function stays the same. Its other tensors get the model's usual
 * initialisation, drawn with `options.seed`, so it learns once the projections move away from 0.
 *
 * @throws RangeError when `after` is not a block of the model
 */
export function deepenTransformer(model: TransformerModel, after: number, options: DeepenOptions): TransformerModel {
  const { nLayer } = model.config;
  if (!Number.isInteger(after) || after < 0 || after >= nLayer) {
    throw new RangeError(`a new block goes after a block of the model, 0 to ${nLayer - 1}, got ${after}`);
  }
  const deep = resizedModel(model, { nLayer: nLayer + 1 });
  const added = after + 1;
  deep.params.set(initParameters(transformerParameters(deep), options.seed));
  // Old blocks after the new one move up by one. The entry of the new block is never read.
  const blocks = Array.from({ length: nLayer + 1 }, (_, l) => (l <= after ? l : l - 1));
  copyTensors(model, deep, { source: (name) => (name.startsWith(`h${added}.`) ? undefined : blockSourceName(name, blocks)) });
  for (const name of RESIDUAL_WRITES) {
    if (model.config.bias === false && name.endsWith('.bias')) continue;
    transformerTensor(deep, `h${added}.${name}`).fill(0);
  }
  return deep;
}

/**
 * Widens the MLP of every block to `width` hidden units the way Net2Net's wider-net operation
 * does ({@link widenMlp}): new units copy the `c_fc` row and bias of a unit drawn at random, each
 * unit's `c_proj` column is divided by its number of copies, and zero-sum noise on the copies
 * breaks their symmetry. GELU acts on each unit alone, so the copies compute the same value and
 * the function stays the same up to float rounding.
 *
 * @throws RangeError when `width` is smaller than the current width
 */
export function widenTransformerMlp(model: TransformerModel, width: number, options: WidenMlpOptions): TransformerModel {
  const current = mlpWidth(model.config);
  if (!Number.isInteger(width) || width < current) {
    throw new RangeError(`each block's MLP has ${current} hidden units; a wider MLP needs at least that many, got ${width}`);
  }
  const wide = resizedModel(model, { mlpHidden: width === 4 * model.config.nEmbd ? undefined : width });
  copyTensors(model, wide, { source: (name) => (/^h\d+\.mlp\./.test(name) ? undefined : name) });
  for (let l = 0; l < model.config.nLayer; l++) {
    const seed = (options.seed + l) % 2 ** 32;
    setBlockMlp(wide, l, widenMlp(blockMlp(model, l), [width], { seed, noise: options.noise }));
  }
  return wide;
}
