export {
  mlpInferenceModel,
  mlpParameters,
  mlpTrainingGraph,
  type MlpConfig,
  type TrainingGraphOptions,
} from './mlp.js';
export { fakeQuantizeActivation, fakeQuantizeWeight, type FakeQuantSettings } from './fake-quant.js';
export type {
  DataInput,
  DistillSettings,
  GradientLayout,
  HiddenDistillSettings,
  MaskInput,
  TeacherHiddenInput,
  TeacherInput,
  TrainingGraph,
  WeightMaskInput,
} from './training-graph.js';
export { gptInferenceModel, gptParameters, gptTrainingGraph, type GptConfig, type GptGraphOptions } from './gpt.js';
export {
  encoderInferenceModel,
  encoderParameters,
  encoderTrainingGraph,
  type EncoderConfig,
  type EncoderGraphOptions,
} from './encoder.js';
export { attentionWidth, headSizeOf, mlpWidth, type TransformerDims } from './transformer.js';
export {
  copyTensors,
  readTransformerModel,
  resizedModel,
  transformerInferenceModel,
  transformerParameters,
  transformerTensor,
  TransformerFileError,
  type CopyTensorsOptions,
  type TransformerModel,
} from './transformer-model.js';
export { blockMlp, setBlockMlp } from './block-mlp.js';
export {
  appendTrainingParameters,
  initParameters,
  layoutParameters,
  modelParameters,
  parameterCount,
  type ParameterInit,
  type ParameterSpec,
} from './parameters.js';
export {
  initFromModel,
  InitFromModelError,
  blockSourceName,
  type InitFromModelOptions,
  type InitFromModelResult,
} from './init-from-model.js';
export { hiddenInputName, withProjections } from './hidden-distill.js';
export { readMlpModel, type MlpModel } from './read-mlp.js';
