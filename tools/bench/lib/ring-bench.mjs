// Adapter for libs/collectives/bench/ring-bench.mjs. That script measures the
// ring all-reduce over gRPC and over `net` sockets. It also measures three raw
// grpc-js references with identity serializers between 2 processes: one
// stream with Node's default HTTP/2 receive window, one stream with the
// receive windows the ring sets, and two such streams in opposite directions
// at once. It prints one JSON object per transport, world size and size:
// { transport, worldSize, sizeMiB, chunkBytes, iterations, medianMs, ... }.
// medianMs is the median of the slowest rank's time over the timed iterations
// (per round, 20 up to 1 MiB, 5 up to 16 MiB and 3 above).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const RING_BENCH_ENTRY = 'libs/collectives/bench/ring-bench.mjs';

/**
 * Transports in table order, keyed by the `transport` names that ring-bench.mjs
 * prints. `twoProcesses` marks the raw references, which always run between 2
 * processes, so that every world size's row compares with them.
 */
export const RING_TRANSPORTS = [
  { key: 'grpc-ring', label: 'ring, gRPC' },
  { key: 'net-ring', label: 'ring, net socket' },
  { key: 'grpc-raw-stream', label: 'raw grpc-js stream, default window', twoProcesses: true },
  { key: 'grpc-raw-stream-tuned', label: 'raw grpc-js stream, ring windows', twoProcesses: true },
  { key: 'grpc-raw-bidi-tuned', label: 'raw grpc-js, 2 streams opposite ways', twoProcesses: true },
];

/** Returns the entry script of the collectives benchmark (relative to the workspace), or null when it is not there. */
export function findRingBench(workspace, override) {
  const entry = override ?? RING_BENCH_ENTRY;
  return existsSync(join(workspace, entry)) || existsSync(entry) ? entry : null;
}

/**
 * Returns the arguments of one collectives benchmark run: one round (the
 * harness repeats rounds itself, interleaved with gloo) at the given sizes and
 * world sizes. --iters and --warmup reach only the gloo peer, because
 * ring-bench.mjs sets its iteration counts by size.
 */
export function ringBenchArgs(entry, { sizesMiB, worldSizes }) {
  return [entry, '--rounds', '1', '--sizes', sizesMiB.join(','), '--world-sizes', worldSizes.join(',')];
}

/**
 * Converts one JSON line of ring-bench.mjs to a row, or returns null for a
 * line that is not a measurement. Bandwidths are recomputed from size and
 * time with the definitions the gloo peer uses: algbw = bytes / time,
 * busbw = algbw × 2(N−1)/N, GB/s = 1e9 bytes/s. For the raw stream (N = 2)
 * that is its one-way rate.
 */
export function readRingBenchLine(line) {
  const { transport, worldSize, sizeMiB, medianMs } = line;
  if (typeof transport !== 'string' || ![worldSize, sizeMiB, medianMs].every((v) => typeof v === 'number' && v > 0)) {
    return null;
  }
  const sizeBytes = sizeMiB * 2 ** 20;
  const algbwGBps = sizeBytes / (medianMs / 1000) / 1e9;
  return {
    transport,
    worldSize,
    sizeMiB,
    sizeBytes,
    timeMs: medianMs,
    algbwGBps,
    busbwGBps: (algbwGBps * 2 * (worldSize - 1)) / worldSize,
    iterations: line.iterations,
    chunkBytes: line.chunkBytes,
  };
}
