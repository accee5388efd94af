/** Returns the L2 norm of `grads`, accumulating the sum of squares in float64. */
export function globalNorm(grads: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < grads.length; i++) {
    const g = grads[i]!;
    sum += g * g;
  }
  return Math.sqrt(sum);
}

/**
 * Scales `grads` in place so that their global L2 norm is at most `maxNorm`, as
 * `torch.nn.utils.clip_grad_norm_` does: the factor is `maxNorm / (norm + 1e-6)`, applied only
 * when it is below 1.
 *
 * A non-finite norm (an overflow or NaN in the gradients) leaves `grads` unchanged, so callers
 * should check the returned value with `Number.isFinite` and skip the step.
 *
 * @param maxNorm - largest norm to allow, > 0
 * @returns the norm before clipping
 */
export function clipGradNorm(grads: Float32Array, maxNorm: number): number {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) {
    throw new RangeError(`clipGradNorm: maxNorm must be a finite number > 0, got ${maxNorm}`);
  }
  const norm = globalNorm(grads);
  if (!Number.isFinite(norm)) return norm;
  const coefficient = maxNorm / (norm + 1e-6);
  if (coefficient < 1) {
    for (let i = 0; i < grads.length; i++) grads[i] = grads[i]! * coefficient;
  }
  return norm;
}
