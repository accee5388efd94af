/**
 * Pieces for assembling small WebAssembly modules from their bytes at run time, so the SIMD
 * kernels need no toolchain or build step. Opcodes follow the WebAssembly SIMD binary encoding.
 */

export const F32X4_SPLAT = [0xfd, 0x13];
export const F64X2_SPLAT = [0xfd, 0x14];
export const V128_LOAD = [0xfd, 0x00, 0x04, 0x00]; // align 2^4, offset 0
export const V128_STORE = [0xfd, 0x0b, 0x04, 0x00];
export const F32X4_SQRT = [0xfd, 0xe3, 0x01];
export const F32X4_ADD = [0xfd, 0xe4, 0x01];
export const F32X4_SUB = [0xfd, 0xe5, 0x01];
export const F32X4_MUL = [0xfd, 0xe6, 0x01];
export const F32X4_DIV = [0xfd, 0xe7, 0x01];
export const F64X2_MUL = [0xfd, 0xf2, 0x01];
/** Rounds the two float64 lanes to float32 lanes 0 and 1 and sets lanes 2 and 3 to zero. */
export const F32X4_DEMOTE_F64X2_ZERO = [0xfd, 0x5e];
/** Widens float32 lanes 0 and 1 to two float64 lanes, exactly. */
export const F64X2_PROMOTE_LOW_F32X4 = [0xfd, 0x5f];
/** Byte shuffle of two vectors: byte i of the result is byte `lanes[i]` of their 32-byte concatenation. */
export const i8x16Shuffle = (lanes: readonly number[]) => [0xfd, 0x0d, ...lanes];
export const LOCAL_GET = 0x20;
export const LOCAL_SET = 0x21;
export const LOCAL_TEE = 0x22;

export function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

export const text = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
export const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

/** Magic number and version 1, the first eight bytes of every module. */
export const MODULE_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** The part of the WebAssembly JS API used here (@types/node 20 does not declare it). */
export interface WasmApi {
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

export const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

export const PAGE_BYTES = 65536;
export const align16 = (n: number) => Math.ceil(n / 16) * 16;
