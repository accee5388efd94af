/**
 * Returns the indices of the `count` largest importances in increasing index order. Ties go to
 * the lower index, so the choice is deterministic.
 */
export function indicesOfLargest(importance: Float64Array, count: number): number[] {
  const order = Array.from(importance.keys()).sort((a, b) => importance[b]! - importance[a]! || a - b);
  return order.slice(0, count).sort((a, b) => a - b);
}
