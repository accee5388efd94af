import { buildDecaySegments, type DecayRange, type DecaySegment } from './decay-mask.js';
import {
  checkNonNegative,
  checkState,
  checkStepBuffers,
  type Optimizer,
  type OptimizerState,
} from './optimizer.js';

/** Options of {@link AdamW}; defaults are those of `torch.optim.AdamW`. */
export interface AdamWOptions {
  /** Learning rate used when `step` is called without one. */
  lr: number;
  /** Decay rates of the first and second moment estimates. @defaultValue [0.9, 0.999] */
  betas?: readonly [number, number];
  /** Term added to the denominator for numerical stability. @defaultValue 1e-8 */
  eps?: number;
  /** Decoupled weight decay: each step multiplies decayed parameters by `1 - lr * weightDecay`. @defaultValue 0.01 */
  weightDecay?: number;
  /** Ranges exempt from (or explicitly given) weight decay; unlisted elements decay. */
  decayMask?: readonly DecayRange[];
}

/**
 * Adam with decoupled weight decay (Loshchilov and Hutter), following `torch.optim.AdamW` without
 * amsgrad: `p *= 1 - lr * wd`, `m = lerp(m, g, 1 - beta1)`, `v = beta2 * v + (1 - beta2) * g^2`,
 * then `p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
 *
 * Arithmetic runs in float64 per element. The moments are rounded to float32 on store because
 * PyTorch keeps them in the parameter dtype. Results therefore agree with PyTorch's float32
 * kernels to rounding, not bitwise.
 */
export class AdamW implements Optimizer {
  readonly name = 'adamw';
  readonly size: number;
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly segments: DecaySegment[];
  private readonly expAvg: Float32Array;
  private readonly expAvgSq: Float32Array;
  private steps = 0;

  /**
   * @param size - number of parameters in the flat buffer
   * @throws RangeError on a negative or non-finite option, or a beta outside `[0, 1)`
   */
  constructor(size: number, options: AdamWOptions) {
    this.size = size;
    this.lr = options.lr;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    checkNonNegative('adamw', 'lr', this.lr);
    checkNonNegative('adamw', 'eps', this.eps);
    checkNonNegative('adamw', 'weightDecay', this.weightDecay);
    for (const [key, beta] of [['betas[0]', this.beta1], ['betas[1]', this.beta2]] as const) {
      if (!(beta >= 0 && beta < 1)) {
        throw new RangeError(`adamw: ${key} must be in [0, 1), got ${beta}`);
      }
    }
    this.segments = buildDecaySegments(size, options.decayMask);
    this.expAvg = new Float32Array(size);
    this.expAvgSq = new Float32Array(size);
  }

  get stepCount(): number {
    return this.steps;
  }

  step(params: Float32Array, grads: Float32Array, lr: number = this.lr, gradScale = 1): void {
    checkStepBuffers('adamw', this.size, params, grads);
    const t = this.steps + 1;
    const { beta1, beta2, eps, expAvg, expAvgSq } = this;
    const oneMinusBeta1 = 1 - beta1;
    const oneMinusBeta2 = 1 - beta2;
    const stepSize = lr / (1 - beta1 ** t);
    const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** t);
    for (const segment of this.segments) {
      const decayFactor = segment.decay ? 1 - lr * this.weightDecay : 1;
      for (let i = segment.start; i < segment.end; i++) {
        const g = Math.fround(grads[i]! * gradScale);
        const p = params[i]! * decayFactor;
        const mPrev = expAvg[i]!;
        const m = Math.fround(mPrev + oneMinusBeta1 * (g - mPrev));
        const v = Math.fround(beta2 * expAvgSq[i]! + oneMinusBeta2 * g * g);
        expAvg[i] = m;
        expAvgSq[i] = v;
        params[i] = p - (stepSize * m) / (Math.sqrt(v) / biasCorrection2Sqrt + eps);
      }
    }
    this.steps = t;
  }

  exportState(): OptimizerState {
    return {
      name: this.name,
      step: this.steps,
      buffers: { expAvg: this.expAvg.slice(), expAvgSq: this.expAvgSq.slice() },
    };
  }

  importState(state: OptimizerState): void {
    this.steps = checkState(this.name, this.size, ['expAvg', 'expAvgSq'], state);
    this.expAvg.set(state.buffers['expAvg']!);
    this.expAvgSq.set(state.buffers['expAvgSq']!);
  }
}
