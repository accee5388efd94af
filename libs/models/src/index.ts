export {
  mlpInferenceModel,
  mlpParameters,
  mlpTrainingGraph,
  type DataInput,
  type GradientLayout,
  type MaskInput,
  type MlpConfig,
  type TrainingGraph,
  type TrainingGraphOptions,
} from './mlp.js';
export {
  initParameters,
  layoutParameters,
  parameterCount,
  type ParameterInit,
  type ParameterSpec,
} from './parameters.js';
