import { AdamWKernel, adamWStepScalars, updateAdamWScalar } from './adamw-kernel.js';
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
  /** Use the scalar JavaScript loop even where the WebAssembly SIMD kernel is available. */
  scalar?: boolean;
}

/**
 * Adam with decoupled weight decay (Loshchilov and Hutter), following `torch.optim.AdamW` without
 * amsgrad: `p *= 1 - lr * wd`, `m = beta1 * m + (1 - beta1) * g`, `v = beta2 * v + (1 - beta2) * g^2`,
 * then `p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
 *
 * Every operation is rounded to float32, as in PyTorch's float32 kernels, and the per-step bias
 * corrections are computed in float64 and rounded once. Results agree with PyTorch to rounding,
 * not bitwise. The WebAssembly SIMD kernel and the scalar fallback give the same bits, so a
 * checkpoint resumes identically on hosts with and without SIMD.
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
  /** WebAssembly SIMD path where the runtime has it. The moments then live in its memory. */
  private readonly kernel: AdamWKernel | undefined;
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
    this.kernel = options.scalar ? undefined : AdamWKernel.create(size);
    this.expAvg = this.kernel?.expAvg ?? new Float32Array(size);
    this.expAvgSq = this.kernel?.expAvgSq ?? new Float32Array(size);
  }

  get parameterBuffer(): Float32Array | undefined {
    return this.kernel?.params;
  }

  get stepCount(): number {
    return this.steps;
  }

  step(params: Float32Array, grads: Float32Array, lr: number = this.lr, gradScale = 1): void {
    checkStepBuffers('adamw', this.size, params, grads);
    const t = this.steps + 1;
    const { beta1, beta2, eps, weightDecay, kernel } = this;
    const hyper = { lr, beta1, beta2, eps, weightDecay, gradScale, step: t };
    const decayed = adamWStepScalars({ ...hyper, decay: true });
    const exempt = adamWStepScalars({ ...hyper, decay: false });
    if (kernel) {
      if (params !== kernel.params) kernel.params.set(params);
      kernel.grads.set(grads);
      for (const segment of this.segments) {
        kernel.update(segment.start, segment.end, segment.decay ? decayed : exempt);
      }
      if (params !== kernel.params) params.set(kernel.params);
    } else {
      const arrays = { params, grads, expAvg: this.expAvg, expAvgSq: this.expAvgSq };
      for (const segment of this.segments) {
        updateAdamWScalar(arrays, segment.start, segment.end, segment.decay ? decayed : exempt);
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
