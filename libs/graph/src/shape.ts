/**
 * One dimension of a tensor shape: a size, or a symbol such as `'batch'` for a size that is only
 * known when the graph runs (written to ONNX as `dim_param`).
 */
export type Dim = number | string;

/** A tensor shape; `[]` is a scalar. */
export type Shape = readonly Dim[];

/** Error for shapes or dtypes that an op does not accept. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** Formats a shape the way error messages print it, e.g. `[batch, 784]`. */
export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Returns whether every dimension of `shape` is a number. */
export function isStaticShape(shape: Shape): shape is readonly number[] {
  return shape.every((dim) => typeof dim === 'number');
}

/** Returns the number of elements of a static shape, or undefined when a dimension is symbolic. */
export function staticSize(shape: Shape): number | undefined {
  let size = 1;
  for (const dim of shape) {
    if (typeof dim !== 'number') return undefined;
    size *= dim;
  }
  return size;
}

/**
 * Returns the shape that numpy broadcasting gives for `shapes`: shapes are aligned at their last
 * dimension, and a dimension of size 1 stretches to match the others. A symbol matches the same
 * symbol or 1; a symbol against another symbol or a size other than 1 is rejected, because the
 * sizes could differ when the graph runs.
 *
 * @throws ShapeError when the shapes do not broadcast; the message lists all of them
 */
export function broadcastShapes(...shapes: Shape[]): Dim[] {
  const rank = Math.max(0, ...shapes.map((shape) => shape.length));
  const out: Dim[] = [];
  for (let axis = 0; axis < rank; axis++) {
    let dim: Dim = 1;
    for (const shape of shapes) {
      const d = shape[axis - rank + shape.length];
      if (d === undefined || d === 1 || d === dim) continue;
      if (dim !== 1) {
        throw new ShapeError(
          `shapes ${shapes.map(formatShape).join(', ')} do not broadcast: ` +
            `dimension ${dim} against ${d} at axis ${axis - rank}`,
        );
      }
      dim = d;
    }
    out.push(dim);
  }
  return out;
}

/** Returns whether two shapes are equal dimension by dimension. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
}

/**
 * Returns an axis in `[0, rank)` for an ONNX axis attribute that may count from the end.
 *
 * @throws ShapeError when the axis is outside `[-rank, rank)`
 */
export function normalizeAxis(axis: number, rank: number, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ShapeError(`${what} ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * Returns the product of `dims` as one dimension: a number, or the single symbol when exactly one
 * symbol appears next to sizes of 1.
 *
 * @throws ShapeError when the product mixes a symbol with other sizes or symbols, because one
 *   `Dim` cannot express `batch * 3`
 */
export function productDim(dims: Shape): Dim {
  let size = 1;
  const symbols: string[] = [];
  for (const dim of dims) {
    if (typeof dim === 'number') size *= dim;
    else symbols.push(dim);
  }
  if (symbols.length === 0) return size;
  if (symbols.length === 1 && size === 1) return symbols[0]!;
  throw new ShapeError(
    `the product of dimensions ${formatShape(dims)} cannot be written as one dimension`,
  );
}
