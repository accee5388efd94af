/**
 * Optimiser state for a checkpoint: the step count and one Float32Array per state buffer, each as
 * long as the parameter buffer. Importing it into an optimiser with the same options makes the
 * following steps bitwise identical to those of the optimiser that exported it.
 */
export interface OptimizerState {
  /** Optimiser name, `sgd` or `adamw`, checked on import. */
  name: string;
  /** Number of steps taken so far. */
  step: number;
  /** State buffers by name (`momentum` for SGD; `expAvg`, `expAvgSq` for AdamW). */
  buffers: Record<string, Float32Array>;
}

/** An optimiser that updates one flat Float32Array of parameters in place. */
export interface Optimizer {
  /** Optimiser name, as in the run config's `optim.name`. */
  readonly name: string;
  /** Number of parameters the optimiser was created for. */
  readonly size: number;
  /** Number of steps taken so far. */
  readonly stepCount: number;
  /**
   * Parameter storage that `step` updates without copying, where the optimiser has one (the SIMD
   * kernel's memory). Callers that keep their parameters in it save two copies per step.
   */
  readonly parameterBuffer?: Float32Array;
  /**
   * Applies one update to `params` in place from `grads`.
   *
   * @param lr - learning rate for this step; defaults to the `lr` option
   * @param gradScale - factor applied to every gradient as it is read, for example 1 / global
   *   sample count times a clipping coefficient. The product is rounded to float32, as a separate
   *   scaling pass would store it, and the pass itself is saved. @defaultValue 1
   */
  step(params: Float32Array, grads: Float32Array, lr?: number, gradScale?: number): void;
  /** Copies the state out for a checkpoint; later steps do not change the copy. */
  exportState(): OptimizerState;
  /** Replaces the state with a copy of `state`, as exported by an optimiser with the same options. */
  importState(state: OptimizerState): void;
}

/** Throws unless `params` and `grads` both have `size` elements. */
export function checkStepBuffers(
  name: string,
  size: number,
  params: Float32Array,
  grads: Float32Array,
): void {
  if (params.length !== size || grads.length !== size) {
    throw new RangeError(
      `${name}: expected params and grads of ${size} elements, got ${params.length} and ` +
        `${grads.length}; create the optimiser with the size of the flat parameter buffer`,
    );
  }
}

/** Throws unless `value` is a finite number that is at least zero. */
export function checkNonNegative(name: string, key: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name}: ${key} must be a finite number >= 0, got ${value}`);
  }
}

/**
 * Checks that `state` was exported by an optimiser of this name and size with these buffers, and
 * returns its step count.
 */
export function checkState(
  name: string,
  size: number,
  bufferNames: readonly string[],
  state: OptimizerState,
): number {
  if (state.name !== name) {
    throw new Error(`cannot import ${state.name} optimiser state into a ${name} optimiser`);
  }
  if (!Number.isInteger(state.step) || state.step < 0) {
    throw new RangeError(`${name}: invalid step count ${state.step} in optimiser state`);
  }
  const got = Object.keys(state.buffers).sort();
  const expected = [...bufferNames].sort();
  if (got.join(',') !== expected.join(',')) {
    throw new Error(
      `${name}: optimiser state has buffers [${got.join(', ')}], expected ` +
        `[${expected.join(', ')}]; was it exported with different options?`,
    );
  }
  for (const key of bufferNames) {
    const buffer = state.buffers[key]!;
    if (!(buffer instanceof Float32Array) || buffer.length !== size) {
      const length = buffer instanceof Float32Array ? `${buffer.length} floats` : typeof buffer;
      throw new RangeError(
        `${name}: state buffer ${key} must be a Float32Array of ${size} elements, got ${length}`,
      );
    }
  }
  return state.step;
}
