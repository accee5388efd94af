/** Learning rate as a function of the optimiser step, counted from 0. */
export type LrSchedule = (step: number) => number;

/** Returns a schedule that is `lr` at every step. */
export function constantSchedule(lr: number): LrSchedule {
  checkRate('constant', 'lr', lr);
  return () => lr;
}

/** Options of {@link stepSchedule}, as in `torch.optim.lr_scheduler.StepLR`. */
export interface StepScheduleOptions {
  /** Learning rate at step 0. */
  lr: number;
  /** Number of steps between two decays. */
  stepSize: number;
  /** Factor applied at every decay. @defaultValue 0.1 */
  gamma?: number;
}

/** Returns a schedule of `lr * gamma^floor(step / stepSize)`. */
export function stepSchedule(options: StepScheduleOptions): LrSchedule {
  const { lr, stepSize } = options;
  const gamma = options.gamma ?? 0.1;
  checkRate('step', 'lr', lr);
  checkRate('step', 'gamma', gamma);
  if (!Number.isInteger(stepSize) || stepSize < 1) {
    throw new RangeError(`step schedule: stepSize must be an integer >= 1, got ${stepSize}`);
  }
  return (step) => lr * gamma ** Math.floor(checkStep(step) / stepSize);
}

/** Options of {@link cosineSchedule}. */
export interface CosineScheduleOptions {
  /** Peak learning rate, reached at the end of the warm-up. */
  lr: number;
  /** Learning rate from `totalSteps` on. @defaultValue 0 */
  minLr?: number;
  /** Steps of linear warm-up. @defaultValue 0 */
  warmupSteps?: number;
  /** Step at which the cosine reaches `minLr` (nanoGPT's `lr_decay_iters`). */
  totalSteps: number;
}

/**
 * Returns nanoGPT's `get_lr` schedule. Steps below `warmupSteps` ramp linearly as
 * `lr * (step + 1) / (warmupSteps + 1)`. From `warmupSteps` to `totalSteps` the rate follows half
 * a cosine from `lr` down to `minLr`, and after `totalSteps` it stays at `minLr`.
 *
 * @throws RangeError when `totalSteps < warmupSteps` or a rate is negative
 */
export function cosineSchedule(options: CosineScheduleOptions): LrSchedule {
  const { lr, totalSteps } = options;
  const minLr = options.minLr ?? 0;
  const warmupSteps = options.warmupSteps ?? 0;
  checkRate('cosine', 'lr', lr);
  checkRate('cosine', 'minLr', minLr);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
    throw new RangeError(
      `cosine schedule: warmupSteps must be an integer >= 0, got ${warmupSteps}`,
    );
  }
  if (!Number.isInteger(totalSteps) || totalSteps < warmupSteps) {
    throw new RangeError(
      `cosine schedule: totalSteps must be an integer >= warmupSteps (${warmupSteps}), ` +
        `got ${totalSteps}`,
    );
  }
  return (step) => {
    checkStep(step);
    if (step < warmupSteps) return (lr * (step + 1)) / (warmupSteps + 1);
    // `step >= totalSteps` also covers totalSteps == warmupSteps, where the cosine has no length.
    if (step >= totalSteps) return minLr;
    const decayRatio = (step - warmupSteps) / (totalSteps - warmupSteps);
    const coeff = 0.5 * (1 + Math.cos(Math.PI * decayRatio));
    return minLr + coeff * (lr - minLr);
  };
}

/** Schedule settings as in the run config: `schedule.*` plus the base `optim.lr`. */
export interface ScheduleConfig {
  /** `constant`, `step` or `cosine`. */
  name: string;
  lr: number;
  warmupSteps?: number;
  minLr?: number;
  /** Total optimiser steps of the run; required by `cosine`. */
  totalSteps?: number;
  /** Steps between decays; required by `step`. */
  stepSize?: number;
  gamma?: number;
}

/**
 * Builds the schedule that a run config names.
 *
 * @throws Error on an unknown name or a missing required field
 */
export function createSchedule(config: ScheduleConfig): LrSchedule {
  switch (config.name) {
    case 'constant':
      return constantSchedule(config.lr);
    case 'step':
      if (config.stepSize === undefined) {
        throw new Error('schedule.name "step" requires stepSize (steps between decays)');
      }
      return stepSchedule({ lr: config.lr, stepSize: config.stepSize, gamma: config.gamma });
    case 'cosine':
      if (config.totalSteps === undefined) {
        throw new Error('schedule.name "cosine" requires totalSteps (total optimiser steps)');
      }
      return cosineSchedule({
        lr: config.lr,
        minLr: config.minLr,
        warmupSteps: config.warmupSteps,
        totalSteps: config.totalSteps,
      });
    default:
      throw new Error(
        `unknown schedule.name "${config.name}"; expected constant, step or cosine`,
      );
  }
}

function checkRate(schedule: string, key: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${schedule} schedule: ${key} must be a finite number >= 0, got ${value}`);
  }
}

function checkStep(step: number): number {
  if (!Number.isInteger(step) || step < 0) {
    throw new RangeError(`schedule step must be an integer >= 0, got ${step}`);
  }
  return step;
}
