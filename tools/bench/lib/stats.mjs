/** Returns the median of `values` (the mean of the middle two for an even count), or undefined when empty. */
export function median(values) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Summarizes one figure over repeated runs. Runs marked `disturbed` are left
 * out of the median unless no undisturbed run exists, in which case the median
 * covers all runs and `disturbedOnly` is set.
 */
export function summarizeRuns(runs, pick) {
  const valued = runs
    .map((run) => ({ value: pick(run), disturbed: run.disturbed }))
    .filter((entry) => typeof entry.value === 'number' && Number.isFinite(entry.value));
  const clean = valued.filter((entry) => !entry.disturbed);
  const used = clean.length > 0 ? clean : valued;
  return {
    median: median(used.map((entry) => entry.value)),
    used: used.length,
    total: valued.length,
    disturbedOnly: clean.length === 0 && valued.length > 0,
    values: valued.map((entry) => entry.value),
    disturbedFlags: valued.map((entry) => entry.disturbed),
  };
}
