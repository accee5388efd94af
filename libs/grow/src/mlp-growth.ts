import { mlpParameters, parameterCount, type MlpConfig, type MlpModel, type ParameterSpec } from '@ringtrain/models';
import { Philox, RandomStream } from '@ringtrain/random';

/** Options of {@link widenMlp}. */
export interface WidenOptions {
  /** Seed of the choice of replicated units and of the noise. */
  seed: number;
  /**
   * Standard deviation of the symmetry-breaking noise on the replicas' outgoing weights,
   * relative to the standard deviation of that layer's outgoing weights. 0 gives exact copies.
   * @defaultValue 0.01
   */
  noise?: number;
}

function tensorView(specs: readonly ParameterSpec[], params: Float32Array, name: string): Float32Array {
  const spec = specs.find((s) => s.name === name)!;
  return params.subarray(spec.offset, spec.offset + spec.size);
}

function standardDeviation(values: Float32Array): number {
  let mean = 0;
  for (const v of values) mean += v / values.length;
  let variance = 0;
  for (const v of values) variance += (v - mean) ** 2 / values.length;
  return Math.sqrt(variance);
}

/**
 * Widens hidden layers the way Net2Net's wider-net operation does, keeping the function. Layer k grows from h to widths[k] units: unit j < h stays, and each new
 * unit copies the incoming weights and bias of a unit drawn at random. Every unit's outgoing
 * weights are divided by the number of its copies, so the next layer receives the same sum. To
 * break the symmetry between copies, each copy's outgoing weights get noise, and the noise of
 * one unit's copies sums to zero, so the function stays exact up to float rounding.
 *
 * @throws RangeError when a width is smaller than the layer's current width
 */
export function widenMlp(model: MlpModel, widths: readonly number[], options: WidenOptions): MlpModel {
  const { config } = model;
  if (widths.length !== config.hidden.length) {
    throw new RangeError(`give one width per hidden layer: the model has ${config.hidden.length} (${config.hidden.join(', ')}), got ${widths.length}`);
  }
  widths.forEach((w, k) => {
    if (!Number.isInteger(w) || w < config.hidden[k]!) {
      throw new RangeError(`hidden layer ${k} has ${config.hidden[k]} units; a wider net needs at least that many, got ${w}`);
    }
  });
  const noise = options.noise ?? 0.01;
  const wide: MlpConfig = { ...config, hidden: [...widths] };
  const oldSpecs = mlpParameters(config);
  const newSpecs = mlpParameters(wide);
  const out = new Float32Array(parameterCount(newSpecs));
  const rng = new Philox(options.seed, RandomStream.growth);
  let draw = 0;

  // sources[k][j]: the old unit that new unit j of hidden layer k copies.
  const sources = config.hidden.map((h, k) =>
    Int32Array.from({ length: widths[k]! }, (_, j) => (j < h ? j : Math.floor(rng.uniform(draw++) * h))),
  );
  const layers = config.hidden.length + 1;
  const sizes = [config.inputSize, ...config.hidden, config.classes];
  const newSizes = [config.inputSize, ...widths, config.classes];
  for (let k = 0; k < layers; k++) {
    const oldW = tensorView(oldSpecs, model.params, `fc${k}.weight`);
    const oldB = tensorView(oldSpecs, model.params, `fc${k}.bias`);
    const newW = tensorView(newSpecs, out, `fc${k}.weight`);
    const newB = tensorView(newSpecs, out, `fc${k}.bias`);
    const rowsFrom = k < layers - 1 ? sources[k]! : Int32Array.from({ length: config.classes }, (_, j) => j);
    const colsFrom = k > 0 ? sources[k - 1]! : Int32Array.from({ length: config.inputSize }, (_, j) => j);
    const copies = new Int32Array(sizes[k]!);
    for (const s of colsFrom) copies[s]!++;
    const sigma = k > 0 ? noise * standardDeviation(oldW) : 0;
    const [inOld, inNew] = [sizes[k]!, newSizes[k]!];
    for (let r = 0; r < rowsFrom.length; r++) {
      const src = rowsFrom[r]!;
      newB[r] = oldB[src]!;
      // Noise per old input unit, made zero-sum over that unit's copies.
      const perCopy = new Float64Array(inNew);
      if (sigma > 0) {
        const sums = new Float64Array(inOld);
        for (let c = 0; c < inNew; c++) {
          perCopy[c] = rng.normal(draw++) * sigma;
          sums[colsFrom[c]!]! += perCopy[c]!;
        }
        for (let c = 0; c < inNew; c++) perCopy[c]! -= sums[colsFrom[c]!]! / copies[colsFrom[c]!]!;
      }
      for (let c = 0; c < inNew; c++) {
        const from = colsFrom[c]!;
        newW[r * inNew + c] = oldW[src * inOld + from]! / copies[from]! + perCopy[c]!;
      }
    }
  }
  return { config: wide, params: out };
}

/**
 * Deepens an MLP the way Net2Net's deeper-net operation does: a new hidden layer after hidden layer `after`, with the
 * identity as weights and zero bias. Its input is a ReLU output, which is never negative, so
 * ReLU(I x + 0) = x and the function is unchanged.
 *
 * @throws RangeError when `after` is not a hidden layer of the model
 */
export function deepenMlp(model: MlpModel, after: number): MlpModel {
  const { config } = model;
  if (!Number.isInteger(after) || after < 0 || after >= config.hidden.length) {
    throw new RangeError(`a new layer goes after a hidden layer, 0 to ${config.hidden.length - 1}, got ${after}`);
  }
  const width = config.hidden[after]!;
  const deep: MlpConfig = { ...config, hidden: [...config.hidden.slice(0, after + 1), width, ...config.hidden.slice(after + 1)] };
  const oldSpecs = mlpParameters(config);
  const newSpecs = mlpParameters(deep);
  const out = new Float32Array(parameterCount(newSpecs));
  const layers = config.hidden.length + 1;
  for (let k = 0; k < layers; k++) {
    const target = k <= after ? k : k + 1;
    for (const part of ['weight', 'bias']) {
      tensorView(newSpecs, out, `fc${target}.${part}`).set(tensorView(oldSpecs, model.params, `fc${k}.${part}`));
    }
  }
  const identity = tensorView(newSpecs, out, `fc${after + 1}.weight`);
  for (let i = 0; i < width; i++) identity[i * width + i] = 1;
  return { config: deep, params: out };
}
