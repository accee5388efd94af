import type { RunConfig } from '@ringtrain/config';
import type { TransformerDims } from '@ringtrain/models';

/**
 * Returns the widths inside each transformer block that a run config sets, `headSize` and
 * `mlpHidden`. A key that is 0 is left out, so the model takes its default (nEmbd / nHead or
 * 4 nEmbd) and its config equals that of a run without these keys.
 */
export function blockWidths(config: RunConfig): Pick<TransformerDims, 'headSize' | 'mlpHidden'> {
  const { headSize, mlpHidden } = config.model;
  return { ...(headSize === 0 ? {} : { headSize }), ...(mlpHidden === 0 ? {} : { mlpHidden }) };
}
