import { buildDecaySegments, type DecayRange, type DecaySegment } from './decay-mask.js';
import { SgdKernel } from './sgd-kernel.js';
import {
  checkNonNegative,
  checkState,
  checkStepBuffers,
  type Optimizer,
  type OptimizerState,
} from './optimizer.js';

/** Options of {@link Sgd}; the names follow the run config's `optim.*` keys. */
export interface SgdOptions {
  /** Learning rate used when `step` is called without one. */
  lr: number;
  /** Momentum factor. @defaultValue 0 (plain SGD, no momentum buffer) */
  momentum?: number;
  /** Nesterov momentum; requires `momentum > 0`. @defaultValue false */
  nesterov?: boolean;
  /** L2 penalty added to the gradient (`g + weightDecay * p`). @defaultValue 0 */
  weightDecay?: number;
  /** Ranges exempt from (or explicitly given) weight decay; unlisted elements decay. */
  decayMask?: readonly DecayRange[];
  /** Use the scalar JavaScript loop even where the WebAssembly SIMD kernel is available. */
  scalar?: boolean;
}

/**
 * Stochastic gradient descent with momentum, following `torch.optim.SGD` with `dampening = 0`:
 * `d = g + wd * p`, `buf = momentum * buf + d`, then `p -= lr * (d + momentum * buf)` with Nesterov
 * or `p -= lr * buf` without. Arithmetic runs in float64 per element and is rounded to float32 on
 * store, so results agree with PyTorch's float32 kernels to rounding, not bitwise.
 */
export class Sgd implements Optimizer {
  readonly name = 'sgd';
  readonly size: number;
  readonly lr: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  private readonly segments: DecaySegment[];
  /** Momentum buffer; empty when `momentum` is 0. */
  private readonly buffer: Float32Array;
  /** WebAssembly SIMD path, where the runtime has it; the momentum buffer then lives in its memory. */
  private readonly kernel: SgdKernel | undefined;
  private steps = 0;

  /**
   * @param size - number of parameters in the flat buffer
   * @throws RangeError on a negative or non-finite option, or Nesterov without momentum
   */
  constructor(size: number, options: SgdOptions) {
    this.size = size;
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    checkNonNegative('sgd', 'lr', this.lr);
    checkNonNegative('sgd', 'momentum', this.momentum);
    checkNonNegative('sgd', 'weightDecay', this.weightDecay);
    if (this.nesterov && this.momentum === 0) {
      throw new RangeError('sgd: nesterov requires momentum > 0, got momentum 0');
    }
    this.segments = buildDecaySegments(size, options.decayMask);
    this.kernel = options.scalar ? undefined : SgdKernel.create(size);
    this.buffer = this.momentum === 0 ? new Float32Array(0) : (this.kernel?.momentum ?? new Float32Array(size));
  }

  get parameterBuffer(): Float32Array | undefined {
    return this.kernel?.params;
  }

  get stepCount(): number {
    return this.steps;
  }

  step(params: Float32Array, grads: Float32Array, lr: number = this.lr, gradScale = 1): void {
    checkStepBuffers('sgd', this.size, params, grads);
    const { momentum, nesterov, buffer, kernel } = this;
    if (kernel) {
      // Two copies in and one out cost less than the scalar loop (about 1 ms against 5 for 1.3M floats).
      if (params !== kernel.params) kernel.params.set(params);
      kernel.grads.set(grads);
      for (const segment of this.segments) {
        const wd = segment.decay ? this.weightDecay : 0;
        kernel.update(segment.start, segment.end, lr, momentum, gradScale, wd, nesterov);
      }
      if (params !== kernel.params) params.set(kernel.params);
      this.steps++;
      return;
    }
    for (const segment of this.segments) {
      const wd = segment.decay ? this.weightDecay : 0;
      if (momentum === 0) {
        for (let i = segment.start; i < segment.end; i++) {
          params[i] = params[i]! - lr * (Math.fround(grads[i]! * gradScale) + wd * params[i]!);
        }
        continue;
      }
      // Round the buffer to float32 before using it, as PyTorch stores it in the parameter dtype.
      if (nesterov) {
        for (let i = segment.start; i < segment.end; i++) {
          const d = Math.fround(grads[i]! * gradScale) + wd * params[i]!;
          const buf = Math.fround(momentum * buffer[i]! + d);
          buffer[i] = buf;
          params[i] = params[i]! - lr * (d + momentum * buf);
        }
        continue;
      }
      for (let i = segment.start; i < segment.end; i++) {
        const d = Math.fround(grads[i]! * gradScale) + wd * params[i]!;
        const buf = Math.fround(momentum * buffer[i]! + d);
        buffer[i] = buf;
        params[i] = params[i]! - lr * buf;
      }
    }
    this.steps++;
  }

  exportState(): OptimizerState {
    const buffers: Record<string, Float32Array> = {};
    if (this.momentum > 0) buffers['momentum'] = this.buffer.slice();
    return { name: this.name, step: this.steps, buffers };
  }

  importState(state: OptimizerState): void {
    const names = this.momentum > 0 ? ['momentum'] : [];
    this.steps = checkState(this.name, this.size, names, state);
    if (this.momentum > 0) this.buffer.set(state.buffers['momentum']!);
  }
}
