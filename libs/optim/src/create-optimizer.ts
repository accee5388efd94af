import { AdamW } from './adamw.js';
import type { DecayRange } from './decay-mask.js';
import type { Optimizer } from './optimizer.js';
import { Sgd } from './sgd.js';

/** Optimiser settings as in the run config's `optim.*` keys. */
export interface OptimizerConfig {
  /** `sgd` or `adamw`. */
  name: string;
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  betas?: readonly [number, number];
  eps?: number;
}

/**
 * Builds the optimiser that a run config names, over a flat buffer of `size` parameters.
 *
 * Keys that do not apply to the named optimiser (`momentum` for adamw, `betas` for sgd) are
 * ignored, because a validated config may carry defaults for both.
 *
 * @param decayMask - ranges of the buffer exempt from (or given) weight decay
 * @throws Error on an unknown name
 */
export function createOptimizer(
  size: number,
  config: OptimizerConfig,
  decayMask?: readonly DecayRange[],
): Optimizer {
  switch (config.name) {
    case 'sgd':
      return new Sgd(size, {
        lr: config.lr,
        momentum: config.momentum,
        nesterov: config.nesterov,
        weightDecay: config.weightDecay,
        decayMask,
      });
    case 'adamw':
      return new AdamW(size, {
        lr: config.lr,
        betas: config.betas,
        eps: config.eps,
        weightDecay: config.weightDecay,
        decayMask,
      });
    default:
      throw new Error(`unknown optim.name "${config.name}"; expected sgd or adamw`);
  }
}
