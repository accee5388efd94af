export {
  mlpInferenceModel,
  mlpParameters,
  mlpTrainingGraph,
  type MlpConfig,
  type TrainingGraphOptions,
} from './mlp.js';
export type { DataInput, DistillSettings, GradientLayout, MaskInput, TeacherInput, TrainingGraph } from './training-graph.js';
export { gptInferenceModel, gptParameters, gptTrainingGraph, type GptConfig, type GptGraphOptions } from './gpt.js';
export {
  encoderInferenceModel,
  encoderParameters,
  encoderTrainingGraph,
  type EncoderConfig,
  type EncoderGraphOptions,
} from './encoder.js';
export { type TransformerDims } from './transformer.js';
export {
  initParameters,
  layoutParameters,
  parameterCount,
  type ParameterInit,
  type ParameterSpec,
} from './parameters.js';
