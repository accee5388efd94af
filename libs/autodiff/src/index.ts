export { buildGradients, type GradientRequest } from './gradients.js';
export { GradientError, VjpContext } from './vjp-context.js';
export { VJP_RULES, type VjpRule } from './vjp-rules.js';
export { TENSOR_VJP_RULES } from './vjp-rules-tensor.js';
export { checkGradients, type CheckInput, type GradientCheckOptions, type GradientCheckResult } from './gradient-check.js';
