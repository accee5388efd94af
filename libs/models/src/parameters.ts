import { Philox, RandomStream } from '@ringtrain/random';

/** Initialisation rule of a parameter tensor. */
export type ParameterInit =
  | { kind: 'uniform'; /** Values are drawn from U(-bound, bound). */ bound: number }
  | { kind: 'normal'; /** Values are drawn from N(0, std^2). */ std: number }
  | { kind: 'zeros' }
  | { kind: 'ones' };

/** One parameter tensor and where it lives in the flat parameter buffer. */
export interface ParameterSpec {
  /** Graph input (training) or initializer (inference) name, e.g. `fc0.weight`. */
  name: string;
  shape: number[];
  /** Number of elements. */
  size: number;
  /** First element in the flat buffer, in floats. */
  offset: number;
  /** Whether weight decay applies: true for tensors of two or more dimensions. */
  decay: boolean;
  init: ParameterInit;
  /**
   * True for tensors that only training uses, such as the projection of a hidden-state
   * distillation term. They come after the model's tensors and stay out of model.onnx.
   */
  trainingOnly?: boolean;
}

/** Lays out parameter tensors one after another in the given order. */
export function layoutParameters(
  tensors: readonly { name: string; shape: number[]; init: ParameterInit }[],
): ParameterSpec[] {
  let offset = 0;
  return tensors.map(({ name, shape, init }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const spec: ParameterSpec = { name, shape: [...shape], size, offset, decay: shape.length >= 2, init };
    offset += size;
    return spec;
  });
}

/** Returns `specs` followed by `extra`, laid out after them and marked as training-only. */
export function appendTrainingParameters(
  specs: readonly ParameterSpec[],
  extra: readonly { name: string; shape: number[]; init: ParameterInit }[],
): ParameterSpec[] {
  const start = parameterCount(specs);
  const added = layoutParameters(extra).map((spec) => ({ ...spec, offset: spec.offset + start, trainingOnly: true }));
  return [...specs, ...added];
}

/** Returns the specs of the tensors that model.onnx holds, without the training-only ones. */
export function modelParameters(specs: readonly ParameterSpec[]): ParameterSpec[] {
  return specs.filter((spec) => spec.trainingOnly !== true);
}

/** Returns the length in floats of the flat buffer that contains `specs`. */
export function parameterCount(specs: readonly ParameterSpec[]): number {
  const last = specs[specs.length - 1];
  return last === undefined ? 0 : last.offset + last.size;
}

/**
 * Initialises a flat parameter buffer. Element `i` of the buffer is drawn from uniform number
 * `i` of the Philox stream (seed, parameterInit), so every rank computes the same buffer and a
 * tensor's values do not depend on the tensors around it.
 *
 * @throws RangeError when the seed is not an integer in [0, 2^32)
 */
export function initParameters(specs: readonly ParameterSpec[], seed: number): Float32Array {
  const out = new Float32Array(parameterCount(specs));
  const rng = new Philox(seed, RandomStream.parameterInit);
  for (const spec of specs) {
    const view = out.subarray(spec.offset, spec.offset + spec.size);
    switch (spec.init.kind) {
      case 'zeros':
        break;
      case 'ones':
        view.fill(1);
        break;
      case 'uniform': {
        rng.fillUniform(view, spec.offset);
        const { bound } = spec.init;
        for (let i = 0; i < view.length; i++) view[i] = (2 * view[i]! - 1) * bound;
        break;
      }
      case 'normal': {
        const { std } = spec.init;
        for (let i = 0; i < view.length; i++) view[i] = rng.normal(spec.offset + i) * std;
        break;
      }
    }
  }
  return out;
}
