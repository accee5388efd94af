import { tensor, type Graph, type Value } from '@ringtrain/graph';
import { parameterCount, type ParameterSpec } from './parameters.js';
import type { ParameterSource, TensorDecl } from './transformer.js';

/** The final LayerNorm of a transformer, `ln_f`, with a bias unless `bias` is false. */
export function finalNormTensors(width: number, bias = true): TensorDecl[] {
  const scale: TensorDecl = { name: 'ln_f.weight', shape: [width], init: { kind: 'ones' } };
  return bias ? [scale, { name: 'ln_f.bias', shape: [width], init: { kind: 'zeros' } }] : [scale];
}

/** Parameters as graph inputs, for training graphs, which use the [out, in] layout only. */
export function inputSource(g: Graph, specs: readonly ParameterSpec[], inputs: readonly Value[]): ParameterSource {
  const byName = new Map(specs.map((spec, i) => [spec.name, inputs[i]!]));
  const get = (name: string) => {
    const value = byName.get(name);
    if (value === undefined) throw new Error(`the model has no parameter '${name}' in graph '${g.name}'`);
    return value;
  };
  return {
    get,
    transposed(name) {
      throw new Error(`graph '${g.name}' uses the rows layout and never reads '${name}' transposed`);
    },
  };
}

/**
 * Parameters as initializers, for inference models. Each tensor is written once, either as
 * declared or transposed to [in, out], under its own name.
 *
 * @throws RangeError when `params` has the wrong length
 */
export function initializerSource(g: Graph, specs: readonly ParameterSpec[], params: Float32Array, model: string): ParameterSource {
  const expected = parameterCount(specs);
  if (params.length !== expected) {
    throw new RangeError(`the ${model} has ${expected} parameters, got a buffer of ${params.length}`);
  }
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const made = new Map<string, { value: Value; transposed: boolean }>();
  const read = (name: string, transposed: boolean): Value => {
    const spec = byName.get(name);
    if (spec === undefined) throw new Error(`the ${model} has no parameter '${name}'`);
    const done = made.get(name);
    if (done !== undefined) {
      if (done.transposed !== transposed) throw new Error(`parameter '${name}' is read both as declared and transposed`);
      return done.value;
    }
    const data = params.subarray(spec.offset, spec.offset + spec.size);
    let value: Value;
    if (transposed) {
      const [rows, cols] = spec.shape as [number, number];
      const t = new Float32Array(spec.size);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = data[r * cols + c]!;
      value = g.initializer(name, tensor('float32', [cols, rows], t));
    } else {
      value = g.initializer(name, tensor('float32', spec.shape, data.slice()));
    }
    made.set(name, { value, transposed });
    return value;
  };
  return { get: (name) => read(name, false), transposed: (name) => read(name, true) };
}
