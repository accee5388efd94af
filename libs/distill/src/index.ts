export { addDistillationLoss, type DistillationLoss, type DistillationLossOptions } from './distillation-loss.js';
export { distillationLossReference, type DistillationLossValues } from './reference.js';
