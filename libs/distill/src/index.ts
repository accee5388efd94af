export { addDistillationLoss, type DistillationLoss, type DistillationLossOptions } from './distillation-loss.js';
export { distillationLossReference, type DistillationLossValues } from './reference.js';
export { addHiddenStateLoss, type HiddenLossKind, type HiddenStateLossOptions } from './hidden-state-loss.js';
