/** Gradual magnitude pruning: the sparsity schedule and the masks of the smallest weights. */

/** When pruning happens during a run. */
export interface PruneSchedule {
  /** Final share of masked weights, in [0, 1). */
  sparsity: number;
  /** Step of the first mask update. */
  startStep: number;
  /** Step at which the sparsity reaches its target; later steps keep the masks. */
  endStep: number;
  /** Steps between mask updates. */
  every: number;
}

/**
 * Returns the target sparsity at `step`. It is 0 before `startStep` and `sparsity` from
 * `endStep` on. In between it follows the cubic ramp s (1 - (1 - p)^3) of the progress p, which
 * prunes fast while many weights are redundant and slowly near the target.
 */
export function sparsityAt(step: number, schedule: PruneSchedule): number {
  const { sparsity, startStep, endStep } = schedule;
  if (step < startStep) return 0;
  if (step >= endStep) return sparsity;
  const progress = (step - startStep) / (endStep - startStep);
  return sparsity * (1 - (1 - progress) ** 3);
}

/** Returns whether the masks are updated at `step`: every `every` steps from `startStep`, and at `endStep`. */
export function isMaskStep(step: number, schedule: PruneSchedule): boolean {
  const { startStep, endStep, every } = schedule;
  if (step < startStep || step > endStep) return false;
  return step === endStep || (step - startStep) % every === 0;
}

/**
 * Sets masks to 0 for the `sparsity` share of smallest-magnitude weights and to 1 elsewhere.
 * With `scope` 'global' one threshold ranks all tensors together, so layers with many small
 * weights lose more; with 'layer' every tensor loses the same share. Ties at the threshold are
 * pruned in index order, so the count is exact and every rank computes the same masks. A weight
 * that is already 0 ranks lowest, so a mask never revives a pruned weight while the sparsity
 * grows.
 *
 * @param weights - the tensors to prune, each with its mask of the same length
 */
export function updateMagnitudeMasks(
  weights: readonly { values: Float32Array; mask: Float32Array }[],
  sparsity: number,
  scope: 'global' | 'layer',
): void {
  if (!(sparsity >= 0 && sparsity < 1)) throw new RangeError(`sparsity must be in [0, 1), got ${sparsity}`);
  const groups = scope === 'layer' ? weights.map((w) => [w]) : [weights];
  for (const group of groups) {
    const total = group.reduce((n, w) => n + w.values.length, 0);
    const prune = Math.floor(sparsity * total);
    const magnitudes = new Float32Array(total);
    let offset = 0;
    for (const w of group) {
      for (let i = 0; i < w.values.length; i++) magnitudes[offset + i] = Math.abs(w.values[i]!);
      offset += w.values.length;
    }
    const threshold = prune === 0 ? -1 : magnitudes.slice().sort()[prune - 1]!;
    let below = 0;
    for (const m of magnitudes) if (m < threshold) below++;
    // Weights equal to the threshold fill the remaining count, first come first pruned.
    let ties = prune - below;
    for (const w of group) {
      for (let i = 0; i < w.values.length; i++) {
        const m = Math.abs(w.values[i]!);
        const pruned = m < threshold || (m === threshold && ties-- > 0);
        w.mask[i] = pruned ? 0 : 1;
      }
    }
  }
}
