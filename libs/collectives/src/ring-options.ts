/** Tuning of a ring; every rank of a ring must use the same `chunkBytes`. */
export interface RingOptions {
  /**
   * Payload bytes per chunk, a multiple of 4 and at most `MAX_CHUNK_BYTES`. Larger chunks cost
   * grpc-js less CPU per byte. At 16 MiB and 2 ranks, 1 MiB chunks used about a fifth less CPU
   * than 256 or 512 KiB (bench/ring-bench.mjs on 2 shared cores). Smaller chunks overlap sending
   * and adding better in small buffers.
   * @defaultValue 1048576 (1 MiB)
   */
  chunkBytes?: number;
  /**
   * Slowest transfer rate still counted as healthy, in bytes per second. A collective's deadline is
   * the bytes this rank sends divided by this rate, plus `deadlineSlackMs`.
   * @defaultValue 10_000_000 (10 MB/s, about 8% of 1 Gb/s Ethernet)
   */
  minBandwidthBytesPerSecond?: number;
  /**
   * Time added to every collective's deadline, in milliseconds, for latency and scheduling.
   * @defaultValue 10_000
   */
  deadlineSlackMs?: number;
  /**
   * Payload bytes of chunks for the next collective buffered while this rank is still in the
   * current one. Beyond this the transport stops reading from the left neighbour.
   * @defaultValue 67_108_864 (64 MiB)
   */
  maxEarlyBytes?: number;
  /**
   * Time for both neighbour streams to be established by `connect`, in milliseconds.
   * @defaultValue 30_000
   */
  connectTimeoutMs?: number;
  /**
   * Time `close()` waits for the right neighbour to acknowledge the end of the stream, in ms.
   * @defaultValue 2_000
   */
  closeTimeoutMs?: number;
}

/** Largest chunk payload a ring accepts, in bytes; far below grpc-js's 4 MiB message default. */
export const MAX_CHUNK_BYTES = 1 << 20;

/** Values used for options that are not set. */
export const DEFAULT_RING_OPTIONS: Readonly<Required<RingOptions>> = Object.freeze({
  chunkBytes: 1024 * 1024,
  minBandwidthBytesPerSecond: 10_000_000,
  deadlineSlackMs: 10_000,
  maxEarlyBytes: 64 * 1024 * 1024,
  connectTimeoutMs: 30_000,
  closeTimeoutMs: 2_000,
});

/**
 * Fills in defaults and validates every option.
 * @throws TypeError for a non-numeric option, RangeError for one out of range
 */
export function resolveRingOptions(options: RingOptions = {}): Required<RingOptions> {
  const resolved = { ...DEFAULT_RING_OPTIONS, ...stripUndefined(options) };
  for (const [key, value] of Object.entries(resolved)) {
    if (!(key in DEFAULT_RING_OPTIONS)) throw new TypeError(`unknown ring option '${key}'`);
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new TypeError(`ring option '${key}' must be a finite number, got ${String(value)}`);
    }
    if (value < 0) throw new RangeError(`ring option '${key}' must not be negative, got ${value}`);
  }
  const { chunkBytes, minBandwidthBytesPerSecond } = resolved;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 4 || chunkBytes % 4 !== 0 || chunkBytes > MAX_CHUNK_BYTES) {
    throw new RangeError(
      `ring option 'chunkBytes' must be a multiple of 4 between 4 and ${MAX_CHUNK_BYTES}, got ${chunkBytes}`,
    );
  }
  if (minBandwidthBytesPerSecond <= 0) {
    throw new RangeError(`ring option 'minBandwidthBytesPerSecond' must be positive, got ${minBandwidthBytesPerSecond}`);
  }
  return resolved;
}

function stripUndefined(options: RingOptions): RingOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}
