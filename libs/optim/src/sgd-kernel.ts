/**
 * SGD-with-momentum update as a WebAssembly SIMD kernel (four float32 lanes per instruction),
 * about 4x fewer instructions than the scalar JavaScript loop. The module is assembled here
 * from its bytes, so no toolchain or build step is involved. Every lane rounds each operation
 * to float32, as PyTorch's float32 kernels do.
 */

import {
  F32X4_ADD,
  F32X4_MUL,
  F32X4_SPLAT,
  F32X4_SUB,
  LOCAL_GET,
  LOCAL_SET,
  MODULE_HEADER,
  PAGE_BYTES,
  V128_LOAD,
  V128_STORE,
  align16,
  section,
  text,
  uleb,
  wasm,
} from './wasm-module.js';

// Parameters: 0 params, 1 grads, 2 momentum (byte offsets), 3 groups of 4 lanes, 4 lr, 5 momentum
// factor, 6 grad scale, 7 weight decay. Locals: 8 group, 9 byte offset, 10-13 splats of 4-7,
// 14 d, 15 buf.
const [P, G, B, COUNT, LR, M, S, WD, I, OFF, VLR, VM, VS, VWD, D, BUF] = Array.from({ length: 16 }, (_, i) => i);

const get = (i: number) => [LOCAL_GET, i];
const set = (i: number) => [LOCAL_SET, i];
const load = (base: number) => [...get(base), ...get(OFF), 0x6a, ...V128_LOAD];

/** Code of one kernel: `nesterov` picks the update d + m * buf over buf. */
function kernelBody(nesterov: boolean): number[] {
  const update = nesterov ? [...get(D), ...get(VM), ...get(BUF), ...F32X4_MUL, ...F32X4_ADD] : get(BUF);
  const code = [
    ...get(LR), ...F32X4_SPLAT, ...set(VLR),
    ...get(M), ...F32X4_SPLAT, ...set(VM),
    ...get(S), ...F32X4_SPLAT, ...set(VS),
    ...get(WD), ...F32X4_SPLAT, ...set(VWD),
    0x02, 0x40, // block
    0x03, 0x40, // loop
    ...get(I), ...get(COUNT), 0x4f, 0x0d, 0x01, // if group >= count: break
    ...get(I), 0x41, 0x04, 0x74, ...set(OFF), // offset = group << 4
    // d = g * scale + wd * p
    ...load(G), ...get(VS), ...F32X4_MUL, ...get(VWD), ...load(P), ...F32X4_MUL, ...F32X4_ADD, ...set(D),
    // buf = m * buf + d, stored back
    ...get(VM), ...load(B), ...F32X4_MUL, ...get(D), ...F32X4_ADD, ...set(BUF),
    ...get(B), ...get(OFF), 0x6a, ...get(BUF), ...V128_STORE,
    // p = p - lr * update
    ...get(P), ...get(OFF), 0x6a, ...load(P), ...get(VLR), ...update, ...F32X4_MUL, ...F32X4_SUB, ...V128_STORE,
    ...get(I), 0x41, 0x01, 0x6a, ...set(I), // group += 1
    0x0c, 0x00, // continue
    0x0b, 0x0b, 0x0b, // end loop, block, function
  ];
  const locals = [0x02, 0x02, 0x7f, 0x06, 0x7b]; // 2 x i32, 6 x v128
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

function moduleBytes(): Uint8Array {
  const type = section(1, [0x01, 0x60, 0x08, 0x7f, 0x7f, 0x7f, 0x7f, 0x7d, 0x7d, 0x7d, 0x7d, 0x00]);
  const imports = section(2, [0x01, ...text('env'), ...text('memory'), 0x02, 0x00, 0x01]);
  const functions = section(3, [0x02, 0x00, 0x00]);
  const exports = section(7, [0x02, ...text('sgd'), 0x00, 0x00, ...text('sgdNesterov'), 0x00, 0x01]);
  const code = section(10, [0x02, ...kernelBody(false), ...kernelBody(true)]);
  return Uint8Array.from([...MODULE_HEADER, ...type, ...imports, ...functions, ...exports, ...code]);
}

type KernelFn = (p: number, g: number, b: number, groups: number, lr: number, m: number, s: number, wd: number) => void;

/**
 * Working memory of the kernel for `size` parameters: parameter, gradient and momentum arrays
 * side by side in one WebAssembly memory. The momentum array lives there for the optimiser's life.
 */
export class SgdKernel {
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly momentum: Float32Array;
  private readonly sgd: KernelFn;
  private readonly sgdNesterov: KernelFn;

  private constructor(instance: { exports: Record<string, unknown> }, memory: { buffer: ArrayBuffer }, size: number) {
    const bytes = align16(size * 4);
    this.params = new Float32Array(memory.buffer, 0, size);
    this.grads = new Float32Array(memory.buffer, bytes, size);
    this.momentum = new Float32Array(memory.buffer, 2 * bytes, size);
    this.sgd = instance.exports['sgd'] as KernelFn;
    this.sgdNesterov = instance.exports['sgdNesterov'] as KernelFn;
  }

  /** Creates the kernel, or returns undefined where WebAssembly SIMD is not available. */
  static create(size: number): SgdKernel | undefined {
    if (!wasm) return undefined;
    try {
      const memory = new wasm.Memory({ initial: Math.ceil((3 * align16(size * 4)) / PAGE_BYTES) + 1 });
      const module = new wasm.Module(moduleBytes());
      const instance = new wasm.Instance(module, { env: { memory } });
      return new SgdKernel(instance, memory, size);
    } catch {
      return undefined;
    }
  }

  /**
   * Updates elements [start, end) of the kernel's arrays in place: d = g * scale + wd * p,
   * buf = m * buf + d, p -= lr * (nesterov ? d + m * buf : buf).
   */
  update(start: number, end: number, lr: number, momentum: number, gradScale: number, wd: number, nesterov: boolean): void {
    // The SIMD loop covers whole groups of 4 from a 16-byte aligned start; the ends go through the scalar path.
    const first = Math.min(end, Math.ceil(start / 4) * 4);
    const groups = Math.max(0, Math.floor((end - first) / 4));
    const last = first + groups * 4;
    this.updateScalar(start, first, lr, momentum, gradScale, wd, nesterov);
    if (groups > 0) {
      const kernel = nesterov ? this.sgdNesterov : this.sgd;
      const offset = first * 4;
      kernel(this.params.byteOffset + offset, this.grads.byteOffset + offset, this.momentum.byteOffset + offset, groups, lr, momentum, gradScale, wd);
    }
    this.updateScalar(last, end, lr, momentum, gradScale, wd, nesterov);
  }

  /** Applies the same update one element at a time, rounding every operation to float32 like a lane. */
  private updateScalar(start: number, end: number, lr: number, m: number, s: number, wd: number, nesterov: boolean): void {
    const f = Math.fround;
    const [lr32, m32, s32, wd32] = [f(lr), f(m), f(s), f(wd)];
    const { params, grads, momentum } = this;
    for (let i = start; i < end; i++) {
      const d = f(f(grads[i]! * s32) + f(wd32 * params[i]!));
      const buf = f(f(m32 * momentum[i]!) + d);
      momentum[i] = buf;
      const update = nesterov ? f(d + f(m32 * buf)) : buf;
      params[i] = f(params[i]! - f(lr32 * update));
    }
  }
}
