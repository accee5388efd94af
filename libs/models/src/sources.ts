import { tensor, type Graph, type Value } from '@ringtrain/graph';
import { parameterCount, type ParameterSpec } from './parameters.js';
import type { ParameterSource, TensorDecl } from './transformer.js';

/** Declares the final LayerNorm `ln_f` of a transformer, with a bias unless `bias` is false. */
export function finalNormTensors(width: number, bias = true): TensorDecl[] {
  const scale: TensorDecl = { name: 'ln_f.weight', shape: [width], init: { kind: 'ones' } };
  return bias ? [scale, { name: 'ln_f.bias', shape: [width], init: { kind: 'zeros' } }] : [scale];
}

/**
 * Returns a parameter source that reads the graph inputs `inputs`, for training graphs. These use
 * the [out, in] layout only, so `transposed` throws.
 */
export function inputSource(g: Graph, specs: readonly ParameterSpec[], inputs: readonly Value[]): ParameterSource {
  const byName = new Map(specs.map((spec, i) => [spec.name, inputs[i]!]));
  const get = (name: string) => {
    const value = byName.get(name);
    if (value === undefined) {
      throw new Error(
        `parameter '${name}' not found in graph '${g.name}'. The model reads a tensor that it does not declare.`,
      );
    }
    return value;
  };
  return {
    get,
    transposed(name) {
      throw new Error(
        `parameter '${name}' cannot be read transposed in graph '${g.name}', ` +
          'because training graphs use the rows layout. Read it with get().',
      );
    },
  };
}

/**
 * Returns a parameter source that writes initializers, for inference models. Each tensor is
 * written once, either as declared or transposed to [in, out], under its own name.
 *
 * @throws RangeError when `params` has the wrong length
 */
export function initializerSource(g: Graph, specs: readonly ParameterSpec[], params: Float32Array, model: string): ParameterSource {
  const expected = parameterCount(specs);
  if (params.length !== expected) {
    throw new RangeError(
      `the ${model} has ${expected} parameters, got a buffer of ${params.length}. ` +
        'Pass the parameters of the same model config.',
    );
  }
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const written = new Map<string, { value: Value; transposed: boolean }>();
  const read = (name: string, transposed: boolean): Value => {
    const spec = byName.get(name);
    if (spec === undefined) {
      throw new Error(
        `parameter '${name}' not found in the ${model}. The model reads a tensor that it does not declare.`,
      );
    }
    const existing = written.get(name);
    if (existing !== undefined) {
      if (existing.transposed !== transposed) {
        throw new Error(
          `parameter '${name}' is read both as declared and transposed, but its initializer can have only one layout`,
        );
      }
      return existing.value;
    }
    const data = params.subarray(spec.offset, spec.offset + spec.size);
    let value: Value;
    if (transposed) {
      const [rows, cols] = spec.shape as [number, number];
      const t = new Float32Array(spec.size);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) t[c * rows + r] = data[r * cols + c]!;
      }
      value = g.initializer(name, tensor('float32', [cols, rows], t));
    } else {
      value = g.initializer(name, tensor('float32', spec.shape, data.slice()));
    }
    written.set(name, { value, transposed });
    return value;
  };
  return { get: (name) => read(name, false), transposed: (name) => read(name, true) };
}
