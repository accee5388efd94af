// Helpers shared by the collectives specs: deterministic inputs, a float64 reference and checks.
import { expect } from 'vitest';

import { CollectiveError, type Ring, type RingEndpoint, type RingOptions } from '../src/index.js';

/** Deterministic values in [-1, 1) for `rank`, from a 32-bit linear congruential generator. */
export function randomBuffer(length: number, seed: number): Float32Array {
  const values = new Float32Array(length);
  let state = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 31 - 1;
  }
  return values;
}

/** Returns one deterministic input buffer per rank. */
export function randomInputs(worldSize: number, length: number, seed = 1): Float32Array[] {
  return Array.from({ length: worldSize }, (_, rank) => randomBuffer(length, seed * 1000 + rank));
}

/** Elementwise float64 sum of `inputs`, and the sum of absolute values for the tolerance. */
export function referenceSum(inputs: Float32Array[]): { sum: Float64Array; magnitude: Float64Array } {
  const length = inputs[0]?.length ?? 0;
  const sum = new Float64Array(length);
  const magnitude = new Float64Array(length);
  for (const input of inputs) {
    for (let i = 0; i < length; i++) {
      sum[i] += input[i]!;
      magnitude[i] += Math.abs(input[i]!);
    }
  }
  return { sum, magnitude };
}

/**
 * Checks that every output is within float32 rounding of the float64 sum of `inputs`, and that
 * all outputs are bitwise identical to rank 0's.
 */
export function expectAllReduced(outputs: Float32Array[], inputs: Float32Array[]): void {
  const { sum, magnitude } = referenceSum(inputs);
  const epsilon = 2 ** -23;
  const worldSize = inputs.length;
  const rank0 = new Uint32Array(outputs[0]!.buffer, outputs[0]!.byteOffset, outputs[0]!.length);
  for (let rank = 0; rank < outputs.length; rank++) {
    const output = outputs[rank]!;
    expect(output.length, `rank ${rank} length`).toBe(sum.length);
    let worst = -1;
    for (let i = 0; i < output.length; i++) {
      if (Math.abs(output[i]! - sum[i]!) > worldSize * epsilon * magnitude[i]! + 1e-30) {
        worst = i;
        break;
      }
    }
    expect(worst, `rank ${rank}: first element outside tolerance (value ${output[worst]}, expected ${sum[worst]})`).toBe(-1);
    const bits = new Uint32Array(output.buffer, output.byteOffset, output.length);
    let firstDifference = -1;
    for (let i = 0; i < bits.length; i++) {
      if (bits[i] !== rank0[i]) {
        firstDifference = i;
        break;
      }
    }
    expect(firstDifference, `rank ${rank}: first element whose bits differ from rank 0`).toBe(-1);
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Endpoint classes the transport specs run against. */
export interface EndpointClass {
  listen(address: string): Promise<{ address: string; connect: RingEndpoint['connect']; close(): Promise<void>; incomingStreams: number }>;
}

/** Ring of `worldSize` in-process ranks over real servers on 127.0.0.1, with a function closing it. */
export async function formLocalRing(endpointClass: EndpointClass, worldSize: number, options?: RingOptions, ringEpoch = 1) {
  const endpoints = await Promise.all(Array.from({ length: worldSize }, () => endpointClass.listen('127.0.0.1:0')));
  const peers = endpoints.map((endpoint) => endpoint.address);
  const rings = await Promise.all(
    endpoints.map((endpoint, rank) =>
      endpoint.connect({ rank, worldSize, peers, ringEpoch, runId: 'run-test', ...(options ? { options } : {}) }),
    ),
  );
  const close = async () => {
    await Promise.all(rings.map((ring) => ring.close()));
    await Promise.all(endpoints.map((endpoint) => endpoint.close()));
  };
  return { endpoints, rings, close };
}

/** Runs an all-reduce of copies of `inputs` on every ring and returns the outputs and stats. */
export async function allReduceCopies(rings: Ring[], inputs: Float32Array[], step = 0) {
  const outputs = inputs.map((input) => input.slice());
  const stats = await Promise.all(rings.map((ring, rank) => ring.allReduce(outputs[rank]!, { step })));
  return { outputs, stats };
}

/** Error a promise rejected with; fails the test when it resolved or threw something else. */
export async function rejectionOf(promise: Promise<unknown>): Promise<CollectiveError> {
  const result = await promise.then(
    () => null,
    (error: unknown) => error,
  );
  expect(result).toBeInstanceOf(CollectiveError);
  return result as CollectiveError;
}

/** Checks whether two arrays contain the same bytes, faster than a deep equality on large arrays. */
export function sameBits(actual: Float32Array, expected: Float32Array): boolean {
  return Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(
    Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength),
  );
}
