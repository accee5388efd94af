export { AdamW, type AdamWOptions } from './adamw.js';
export { clipGradNorm, globalNorm } from './clip.js';
export { createOptimizer, type OptimizerConfig } from './create-optimizer.js';
export type { DecayRange } from './decay-mask.js';
export type { Optimizer, OptimizerState } from './optimizer.js';
export {
  constantSchedule,
  cosineSchedule,
  createSchedule,
  stepSchedule,
  type CosineScheduleOptions,
  type LrSchedule,
  type ScheduleConfig,
  type StepScheduleOptions,
} from './schedule.js';
export { Sgd, type SgdOptions } from './sgd.js';
