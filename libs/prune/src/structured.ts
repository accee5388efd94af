import { mlpParameters, parameterCount, type MlpConfig, type MlpModel, type ParameterSpec } from '@ringtrain/models';
import { indicesOfLargest } from './ranking.js';

function view(specs: readonly ParameterSpec[], params: Float32Array, name: string): Float32Array {
  const spec = specs.find((s) => s.name === name)!;
  return params.subarray(spec.offset, spec.offset + spec.size);
}

/**
 * Returns the importance of each unit of hidden layer k: the L2 norm of its incoming weights
 * and bias times the L2 norm of its outgoing weights, so a unit that either receives or sends
 * little counts little.
 */
export function unitImportance(model: MlpModel, layer: number): Float64Array {
  const { config, params } = model;
  const specs = mlpParameters(config);
  const width = config.hidden[layer]!;
  const inputs = layer === 0 ? config.inputSize : config.hidden[layer - 1]!;
  const outputs = layer + 1 < config.hidden.length ? config.hidden[layer + 1]! : config.classes;
  const w = view(specs, params, `fc${layer}.weight`);
  const b = view(specs, params, `fc${layer}.bias`);
  const next = view(specs, params, `fc${layer + 1}.weight`);
  return Float64Array.from({ length: width }, (_, u) => {
    let incoming = b[u]! ** 2;
    for (let i = 0; i < inputs; i++) incoming += w[u * inputs + i]! ** 2;
    let outgoing = 0;
    for (let o = 0; o < outputs; o++) outgoing += next[o * width + u]! ** 2;
    return Math.sqrt(incoming * outgoing);
  });
}

/**
 * Removes the least important hidden units of an MLP and returns a smaller dense model: each
 * hidden layer keeps `widths[k]` units (chosen by {@link unitImportance}, in their original
 * order), with their incoming rows and outgoing columns.
 *
 * @throws RangeError when a width is not in [1, current width]
 */
export function pruneUnits(model: MlpModel, widths: readonly number[]): MlpModel & { kept: number[][] } {
  const { config } = model;
  if (widths.length !== config.hidden.length) {
    throw new RangeError(`give one width per hidden layer: the model has ${config.hidden.length} (${config.hidden.join(', ')}), got ${widths.length}`);
  }
  widths.forEach((w, k) => {
    if (!Number.isInteger(w) || w < 1 || w > config.hidden[k]!) {
      throw new RangeError(`hidden layer ${k} has ${config.hidden[k]} units, so it can keep 1 to ${config.hidden[k]}, got ${w}`);
    }
  });
  const kept = widths.map((w, k) => indicesOfLargest(unitImportance(model, k), w));
  const small: MlpConfig = { ...config, hidden: [...widths] };
  const oldSpecs = mlpParameters(config);
  const newSpecs = mlpParameters(small);
  const out = new Float32Array(parameterCount(newSpecs));
  const oldSizes = [config.inputSize, ...config.hidden, config.classes];
  const layers = config.hidden.length + 1;
  for (let k = 0; k < layers; k++) {
    const rows = k < layers - 1 ? kept[k]! : Array.from({ length: config.classes }, (_, i) => i);
    const cols = k > 0 ? kept[k - 1]! : Array.from({ length: config.inputSize }, (_, i) => i);
    const oldW = view(oldSpecs, model.params, `fc${k}.weight`);
    const oldB = view(oldSpecs, model.params, `fc${k}.bias`);
    const newW = view(newSpecs, out, `fc${k}.weight`);
    const newB = view(newSpecs, out, `fc${k}.bias`);
    rows.forEach((r, i) => {
      newB[i] = oldB[r]!;
      cols.forEach((c, j) => (newW[i * cols.length + j] = oldW[r * oldSizes[k]! + c]!));
    });
  }
  return { config: small, params: out, kept };
}
