import { readWeights } from '@ringtrain/graph';
import { mlpParameters, type MlpConfig } from './mlp.js';
import { initFromModel } from './init-from-model.js';
import { parameterCount } from './parameters.js';

/** An MLP read back from its model.onnx: the config and the flat parameter buffer. */
export interface MlpModel {
  config: MlpConfig;
  params: Float32Array;
}

/**
 * Reads an MLP that ringtrain exported: the widths come from the shapes of `fc{k}.weight`, the
 * input normalisation from the `input_mean` and `input_std` constants.
 *
 * @throws Error when the file has no `fc0.weight` or its layers do not chain
 */
export function readMlpModel(bytes: Uint8Array): MlpModel {
  const weights = readWeights(bytes);
  const shapes: [number, number][] = [];
  for (let k = 0; weights.has(`fc${k}.weight`); k++) shapes.push(weights.get(`fc${k}.weight`)!.shape as [number, number]);
  if (shapes.length === 0) throw new Error('the model file has no fc0.weight, so it is not an MLP that ringtrain exported');
  shapes.forEach(([, inputs], k) => {
    if (k > 0 && inputs !== shapes[k - 1]![0]) {
      throw new Error(`fc${k}.weight takes ${inputs} inputs but fc${k - 1} has ${shapes[k - 1]![0]} outputs, so the layers do not chain`);
    }
  });
  const scalar = (name: string, fallback: number) => weights.get(name)?.data[0] ?? fallback;
  const config: MlpConfig = {
    inputSize: shapes[0]![1],
    hidden: shapes.slice(0, -1).map(([out]) => out),
    classes: shapes[shapes.length - 1]![0],
    inputMean: scalar('input_mean', 0.1307),
    inputStd: scalar('input_std', 0.3081),
  };
  const params = new Float32Array(parameterCount(mlpParameters(config)));
  initFromModel(mlpParameters(config), params, bytes);
  return { config, params };
}
