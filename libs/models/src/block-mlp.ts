import { mlpParameters, type MlpConfig } from './mlp.js';
import { parameterCount } from './parameters.js';
import type { MlpModel } from './read-mlp.js';
import { transformerTensor, type TransformerModel } from './transformer-model.js';
import { mlpWidth } from './transformer.js';

/** Returns the config of a block's MLP seen as an MLP with one hidden layer. */
function blockMlpConfig(model: TransformerModel): MlpConfig {
  const { nEmbd } = model.config;
  return { inputSize: nEmbd, hidden: [mlpWidth(model.config)], classes: nEmbd, inputMean: 0, inputStd: 1 };
}

/**
 * Returns a copy of the MLP of block `l` as an MLP with one hidden layer: `c_fc` becomes `fc0`
 * [mlpHidden, nEmbd] and `c_proj` becomes `fc1` [nEmbd, mlpHidden]. The block applies GELU where
 * the MLP applies ReLU. Operations that only remove or replicate whole hidden units, such as unit
 * pruning and Net2Net widening, treat both alike, because both activations act elementwise. A
 * model without biases gets zero biases.
 */
export function blockMlp(model: TransformerModel, l: number): MlpModel {
  const config = blockMlpConfig(model);
  const specs = mlpParameters(config);
  const params = new Float32Array(parameterCount(specs));
  for (const [k, part] of [['0', 'c_fc'], ['1', 'c_proj']] as const) {
    const weight = specs.find((s) => s.name === `fc${k}.weight`)!;
    params.set(transformerTensor(model, `h${l}.mlp.${part}.weight`), weight.offset);
    if (model.config.bias === false) continue;
    const bias = specs.find((s) => s.name === `fc${k}.bias`)!;
    params.set(transformerTensor(model, `h${l}.mlp.${part}.bias`), bias.offset);
  }
  return { config, params };
}

/**
 * Writes an MLP of the form {@link blockMlp} returns into block `l` of `model`, whose mlpHidden
 * must equal the MLP's hidden width. The biases are left out when the model has none.
 */
export function setBlockMlp(model: TransformerModel, l: number, mlp: MlpModel): void {
  const specs = mlpParameters(mlp.config);
  for (const [k, part] of [['0', 'c_fc'], ['1', 'c_proj']] as const) {
    const names = model.config.bias === false ? ['weight'] : ['weight', 'bias'];
    for (const name of names) {
      const spec = specs.find((s) => s.name === `fc${k}.${name}`)!;
      transformerTensor(model, `h${l}.mlp.${part}.${name}`).set(mlp.params.subarray(spec.offset, spec.offset + spec.size));
    }
  }
}
