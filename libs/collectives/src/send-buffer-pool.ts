/**
 * Reusable buffers for encoded chunks. Filling a fresh 256 KiB allocation took 5-10 times as long
 * as copying into a reused one here (Node 20, 2 cores), because its pages are faulted in and its
 * external memory drives V8's garbage collector. Each transport therefore recycles the buffers of
 * messages its stream is done with.
 */
export class SendBufferPool {
  private readonly free: ArrayBuffer[] = [];
  private readonly maxFree: number;
  /** Backing buffers this pool created, so that `release` ignores any other buffer. */
  private readonly owned = new WeakSet<ArrayBuffer>();

  /**
   * @param capacity - bytes of each pooled buffer; larger requests get a one-off allocation
   * @param maxFreeBytes - bytes of released buffers kept for reuse (at least one buffer); further
   *   released buffers are left to the garbage collector
   */
  constructor(
    readonly capacity: number,
    maxFreeBytes: number,
  ) {
    this.maxFree = Math.max(1, Math.floor(maxFreeBytes / capacity));
  }

  /** Returns a buffer of exactly `bytes` bytes with unspecified contents. */
  take(bytes: number): Buffer {
    if (bytes > this.capacity) return Buffer.allocUnsafeSlow(bytes);
    let backing = this.free.pop();
    if (backing === undefined) {
      backing = new ArrayBuffer(this.capacity);
      this.owned.add(backing);
    }
    return Buffer.from(backing, 0, bytes);
  }

  /** Returns `buffer`, from `take`, for reuse; the caller must not touch it afterwards. */
  release(buffer: Buffer): void {
    const backing = buffer.buffer;
    if (!(backing instanceof ArrayBuffer) || !this.owned.has(backing)) return;
    if (this.free.length < this.maxFree && !this.free.includes(backing)) this.free.push(backing);
  }
}

/** Bytes of released send buffers a transport keeps for reuse. */
export const SEND_POOL_BYTES = 8 * 1024 * 1024;
