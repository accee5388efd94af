/**
 * AdamW update as a WebAssembly SIMD kernel (four float32 lanes per instruction), with a scalar
 * path that performs the same operations in the same order. Both round every operation to
 * float32, except the gradient scaling, which runs in float64 and is rounded once. The two paths
 * therefore give the same bits, and the scalar path covers the ends of a range that do not fill
 * a 16-byte group. The module is assembled here from its bytes, so no toolchain is involved.
 */

import {
  F32X4_ADD,
  F32X4_DEMOTE_F64X2_ZERO,
  F32X4_DIV,
  F32X4_MUL,
  F32X4_SPLAT,
  F32X4_SQRT,
  F32X4_SUB,
  F64X2_MUL,
  F64X2_PROMOTE_LOW_F32X4,
  F64X2_SPLAT,
  LOCAL_GET,
  LOCAL_SET,
  LOCAL_TEE,
  MODULE_HEADER,
  PAGE_BYTES,
  V128_LOAD,
  V128_STORE,
  align16,
  i8x16Shuffle,
  section,
  text,
  uleb,
  wasm,
} from './wasm-module.js';

/** Per-step scalars of the update (see {@link adamWStepScalars}). */
export interface AdamWStepScalars {
  /**
   * Factor applied to every gradient as it is read, in float64. The product is rounded to float32
   * once, as a separate scaling pass would store it.
   */
  gradScale: number;
  // The remaining scalars are rounded to float32.
  /** `1 - lr * weightDecay` on decayed segments, 1 on the others. */
  decayFactor: number;
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  /** `lr / (1 - beta1^t)`. */
  stepSize: number;
  /** `sqrt(1 - beta2^t)`. */
  biasCorrection2Sqrt: number;
  eps: number;
}

/** Hyperparameters of one step, in float64 as the caller has them. */
export interface AdamWStepOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradScale: number;
  /** Step number t, counting from 1. */
  step: number;
  /** Whether the segment being updated gets weight decay. */
  decay: boolean;
}

/**
 * Computes the scalars of one step in float64, as `torch.optim.AdamW` does on the host, and
 * rounds each but `gradScale` to float32 once, because the lanes take float32 operands.
 */
export function adamWStepScalars(options: AdamWStepOptions): AdamWStepScalars {
  const { lr, beta1, beta2, eps, weightDecay, gradScale, step, decay } = options;
  const f = Math.fround;
  return {
    gradScale,
    decayFactor: decay ? f(1 - lr * weightDecay) : 1,
    beta1: f(beta1),
    oneMinusBeta1: f(1 - beta1),
    beta2: f(beta2),
    oneMinusBeta2: f(1 - beta2),
    stepSize: f(lr / (1 - beta1 ** step)),
    biasCorrection2Sqrt: f(Math.sqrt(1 - beta2 ** step)),
    eps: f(eps),
  };
}

/** Parameter, gradient and moment arrays of equal length that an update reads and writes. */
export interface AdamWArrays {
  params: Float32Array;
  grads: Float32Array;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

/**
 * Updates elements [start, end) of `arrays` in place, one element at a time, in the order of the
 * SIMD lanes: `g = grad * gradScale` as a float64 product rounded to float32, then in float32
 * `p = p * decayFactor`, `m = beta1 * m + (1 - beta1) * g`,
 * `v = beta2 * v + (1 - beta2) * g * g`,
 * `p = p - stepSize * m / (sqrt(v) / biasCorrection2Sqrt + eps)`.
 */
export function updateAdamWScalar(arrays: AdamWArrays, start: number, end: number, scalars: AdamWStepScalars): void {
  // Math.fround of one float64 operation on float32 operands equals the float32 operation,
  // because float64 has more than twice the precision (no double-rounding error for + - * / sqrt).
  // Only gradScale is a float64 operand, and the lanes form that product in float64 too.
  const f = Math.fround;
  const { params, grads, expAvg, expAvgSq } = arrays;
  const { gradScale, decayFactor, beta1, oneMinusBeta1, beta2, oneMinusBeta2 } = scalars;
  const { stepSize, biasCorrection2Sqrt, eps } = scalars;
  for (let i = start; i < end; i++) {
    const g = f(grads[i]! * gradScale);
    const p = f(params[i]! * decayFactor);
    const m = f(f(beta1 * expAvg[i]!) + f(oneMinusBeta1 * g));
    const v = f(f(beta2 * expAvgSq[i]!) + f(f(oneMinusBeta2 * g) * g));
    expAvg[i] = m;
    expAvgSq[i] = v;
    const denominator = f(f(f(Math.sqrt(v)) / biasCorrection2Sqrt) + eps);
    // The store rounds the difference to float32.
    params[i] = p - f(f(stepSize * m) / denominator);
  }
}

// Parameters: 0 params, 1 grads, 2 expAvg, 3 expAvgSq (byte offsets), 4 groups of 4 lanes, then the
// nine scalars 5-13 in the order of AdamWStepScalars (gradScale f64, the others f32).
// Locals: 14 group, 15 byte offset, 16-24 splats of the scalars, 25 g, 26 m, 27 v.
const [P, G, M, V, COUNT] = [0, 1, 2, 3, 4];
const SCALAR_COUNT = 9;
const FIRST_SCALAR = 5;
const [I, OFF] = [14, 15];
const FIRST_SPLAT = 16;
const [VS, VDF, VB1, VC1, VB2, VC2, VLR, VBC2, VEPS] = Array.from({ length: SCALAR_COUNT }, (_, k) => FIRST_SPLAT + k);
const [GV, MV, VV] = [25, 26, 27];

/** Bytes 8-15 of the first vector, then bytes 0-7 of it. */
const HIGH_HALF_DOWN = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
/** Bytes 0-7 of the first vector, then bytes 0-7 of the second. */
const LOW_HALVES_JOINED = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

const get = (i: number) => [LOCAL_GET, i];
const set = (i: number) => [LOCAL_SET, i];
const tee = (i: number) => [LOCAL_TEE, i];
const address = (base: number) => [...get(base), ...get(OFF), 0x6a]; // base + offset
const load = (base: number) => [...address(base), ...V128_LOAD];

function kernelBody(): number[] {
  const splats: number[] = [];
  for (let k = 0; k < SCALAR_COUNT; k++) {
    const splat = k === 0 ? F64X2_SPLAT : F32X4_SPLAT;
    splats.push(...get(FIRST_SCALAR + k), ...splat, ...set(FIRST_SPLAT + k));
  }
  const code = [
    ...splats,
    0x02, 0x40, // block
    0x03, 0x40, // loop
    ...get(I), ...get(COUNT), 0x4f, 0x0d, 0x01, // if group >= count: break
    ...get(I), 0x41, 0x04, 0x74, ...set(OFF), // offset = group << 4
    // g = grad * scale in float64 lanes, rounded to float32: lanes 0-1, then 2-3 moved down, then joined
    ...load(G), ...tee(GV),
    ...F64X2_PROMOTE_LOW_F32X4, ...get(VS), ...F64X2_MUL, ...F32X4_DEMOTE_F64X2_ZERO,
    ...get(GV), ...get(GV), ...i8x16Shuffle(HIGH_HALF_DOWN),
    ...F64X2_PROMOTE_LOW_F32X4, ...get(VS), ...F64X2_MUL, ...F32X4_DEMOTE_F64X2_ZERO,
    ...i8x16Shuffle(LOW_HALVES_JOINED), ...set(GV),
    // m = beta1 * m + (1 - beta1) * g, stored back
    ...address(M),
    ...get(VB1), ...load(M), ...F32X4_MUL, ...get(VC1), ...get(GV), ...F32X4_MUL, ...F32X4_ADD,
    ...tee(MV), ...V128_STORE,
    // v = beta2 * v + (1 - beta2) * g * g, stored back
    ...address(V),
    ...get(VB2), ...load(V), ...F32X4_MUL,
    ...get(VC2), ...get(GV), ...F32X4_MUL, ...get(GV), ...F32X4_MUL, ...F32X4_ADD,
    ...tee(VV), ...V128_STORE,
    // p = p * decay - (stepSize * m) / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    ...address(P),
    ...load(P), ...get(VDF), ...F32X4_MUL,
    ...get(VLR), ...get(MV), ...F32X4_MUL,
    ...get(VV), ...F32X4_SQRT, ...get(VBC2), ...F32X4_DIV, ...get(VEPS), ...F32X4_ADD,
    ...F32X4_DIV, ...F32X4_SUB, ...V128_STORE,
    ...get(I), 0x41, 0x01, 0x6a, ...set(I), // group += 1
    0x0c, 0x00, // continue
    0x0b, 0x0b, 0x0b, // end loop, block, function
  ];
  const locals = [0x02, 0x02, 0x7f, 0x0c, 0x7b]; // 2 x i32, 12 x v128
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

function moduleBytes(): Uint8Array {
  // Five i32, one f64, eight f32 parameters and no result.
  const f32Parameters = Array<number>(SCALAR_COUNT - 1).fill(0x7d);
  const signature = [0x60, 5 + SCALAR_COUNT, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7c, ...f32Parameters, 0x00];
  const type = section(1, [0x01, ...signature]);
  const imports = section(2, [0x01, ...text('env'), ...text('memory'), 0x02, 0x00, 0x01]);
  const functions = section(3, [0x01, 0x00]);
  const exports = section(7, [0x01, ...text('adamw'), 0x00, 0x00]);
  const code = section(10, [0x01, ...kernelBody()]);
  return Uint8Array.from([...MODULE_HEADER, ...type, ...imports, ...functions, ...exports, ...code]);
}

type KernelFn = (
  p: number, g: number, m: number, v: number, groups: number,
  gradScale: number, decayFactor: number, beta1: number, oneMinusBeta1: number, beta2: number,
  oneMinusBeta2: number, stepSize: number, biasCorrection2Sqrt: number, eps: number,
) => void;

/**
 * Working memory of the kernel for `size` parameters: parameter, gradient and both moment arrays
 * side by side in one WebAssembly memory, each starting on a 16-byte boundary. The moment arrays
 * live there for the optimiser's life.
 */
export class AdamWKernel implements AdamWArrays {
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly expAvg: Float32Array;
  readonly expAvgSq: Float32Array;
  private readonly adamw: KernelFn;

  private constructor(instance: { exports: Record<string, unknown> }, memory: { buffer: ArrayBuffer }, size: number) {
    const bytes = align16(size * 4);
    this.params = new Float32Array(memory.buffer, 0, size);
    this.grads = new Float32Array(memory.buffer, bytes, size);
    this.expAvg = new Float32Array(memory.buffer, 2 * bytes, size);
    this.expAvgSq = new Float32Array(memory.buffer, 3 * bytes, size);
    this.adamw = instance.exports['adamw'] as KernelFn;
  }

  /**
   * Creates the kernel, or returns undefined where WebAssembly SIMD is not available or the
   * runtime rejects a memory of four arrays of `size` floats.
   */
  static create(size: number): AdamWKernel | undefined {
    if (!wasm) return undefined;
    try {
      const memory = new wasm.Memory({ initial: Math.ceil((4 * align16(size * 4)) / PAGE_BYTES) + 1 });
      const module = new wasm.Module(moduleBytes());
      const instance = new wasm.Instance(module, { env: { memory } });
      return new AdamWKernel(instance, memory, size);
    } catch {
      return undefined;
    }
  }

  /** Updates elements [start, end) of the kernel's arrays in place, as {@link updateAdamWScalar} does. */
  update(start: number, end: number, scalars: AdamWStepScalars): void {
    // The SIMD loop covers whole groups of 4 from a 16-byte aligned start, and the scalar path takes the ends.
    const first = Math.min(end, Math.ceil(start / 4) * 4);
    const groups = Math.max(0, Math.floor((end - first) / 4));
    const last = first + groups * 4;
    updateAdamWScalar(this, start, first, scalars);
    if (groups > 0) {
      const offset = first * 4;
      const s = scalars;
      this.adamw(
        this.params.byteOffset + offset,
        this.grads.byteOffset + offset,
        this.expAvg.byteOffset + offset,
        this.expAvgSq.byteOffset + offset,
        groups,
        s.gradScale,
        s.decayFactor,
        s.beta1,
        s.oneMinusBeta1,
        s.beta2,
        s.oneMinusBeta2,
        s.stepSize,
        s.biasCorrection2Sqrt,
        s.eps,
      );
    }
    updateAdamWScalar(this, last, end, scalars);
  }
}
