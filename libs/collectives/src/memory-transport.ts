import { type ChunkHeader, decodeRingChunk, encodeRingChunk } from './chunk-codec.js';
import { positiveModulo } from './ring-layout.js';
import type { RingOptions } from './ring-options.js';
import type { RingAbort, RingTransport, RingTransportHandlers } from './ring-transport.js';
import { Ring } from './ring.js';

/** One chunk sent over a `MemoryRingNetwork`. */
export interface MemoryMessage {
  from: number;
  to: number;
  header: ChunkHeader;
}

/** Action `MemoryRingNetworkOptions.intercept` takes on a message. */
export type MemoryInterception = { header: ChunkHeader } | 'drop' | 'deliver';

/** Settings of a `MemoryRingNetwork`. */
export interface MemoryRingNetworkOptions {
  /**
   * Messages in flight on one link at which `send` starts returning false (backpressure).
   * @defaultValue Infinity
   */
  highWaterMark?: number;
  /** Called for every message before delivery: deliver it, drop it, or deliver another header. */
  intercept?: (message: MemoryMessage, payload: Float32Array) => MemoryInterception;
}

/**
 * In-process ring of `worldSize` ranks for tests. Every message goes through the real wire codec
 * and is delivered in order on a later macrotask, and every sent message is recorded in
 * `messages`, so tests can count chunks and check the topology.
 */
export class MemoryRingNetwork {
  /** Every message sent, in send order. */
  readonly messages: MemoryMessage[] = [];
  private readonly links: MemoryTransport[];

  constructor(
    readonly worldSize: number,
    private readonly options: MemoryRingNetworkOptions = {},
  ) {
    this.links = Array.from({ length: worldSize }, (_, rank) => new MemoryTransport(this, rank));
  }

  /** Transport of `rank`. */
  transport(rank: number): RingTransport {
    return this.links[rank]!;
  }

  /** Creates one `Ring` per rank over this network. */
  createRings(options?: RingOptions, ringEpoch = 0): Ring[] {
    return this.links.map(
      (link, rank) =>
        new Ring({ rank, worldSize: this.worldSize, ringEpoch, ...(options ? { options } : {}) }, this.worldSize > 1 ? link : null),
    );
  }

  /** Simulates the death of `rank`: both of its links fail at once, as with a killed process. */
  kill(rank: number): void {
    this.links[rank]!.closeNow('the process was killed');
  }

  /** @internal */
  route(from: number, header: ChunkHeader, payload: Float32Array): boolean {
    const to = positiveModulo(from + 1, this.worldSize);
    const message: MemoryMessage = { from, to, header: { ...header } };
    this.messages.push(message);
    const interception = this.options.intercept?.(message, payload) ?? 'deliver';
    if (interception === 'drop') return true;
    const sent = interception === 'deliver' ? header : interception.header;
    const bytes = encodeRingChunk(sent, payload, { prefixBytes: 0, receiverMessageOffset: 0 });
    return this.links[to]!.enqueueIncoming(bytes, this.links[from]!);
  }

  /** @internal */
  neighbours(rank: number): { left: MemoryTransport; right: MemoryTransport } {
    return {
      left: this.links[positiveModulo(rank - 1, this.worldSize)]!,
      right: this.links[positiveModulo(rank + 1, this.worldSize)]!,
    };
  }

  /** @internal */
  get highWaterMark(): number {
    return this.options.highWaterMark ?? Infinity;
  }
}

class MemoryTransport implements RingTransport {
  private handlers: RingTransportHandlers | null = null;
  private readonly incoming: Array<{ bytes: Buffer; sender: MemoryTransport } | { end: string }> = [];
  private paused = false;
  private scheduled = false;
  private closed = false;
  /** Messages this rank sent that are not yet delivered. */
  inFlight = 0;
  private blocked = false;

  constructor(
    private readonly network: MemoryRingNetwork,
    private readonly rank: number,
  ) {}

  start(handlers: RingTransportHandlers): void {
    this.handlers = handlers;
    this.schedule();
  }

  send(header: ChunkHeader, payload: Float32Array): boolean {
    if (this.closed) return true;
    this.inFlight += 1;
    this.network.route(this.rank, header, payload);
    const writable = this.inFlight < this.network.highWaterMark;
    if (!writable) this.blocked = true;
    return writable;
  }

  pauseReceive(): void {
    this.paused = true;
  }

  resumeReceive(): void {
    this.paused = false;
    this.schedule();
  }

  async close(abort?: RingAbort): Promise<void> {
    if (this.closed) return;
    if (abort !== undefined) {
      this.closeNow(`aborted its ring: ${abort.message}`, abort.failedRank ?? undefined);
      return;
    }
    this.closed = true;
    const { left, right } = this.network.neighbours(this.rank);
    right.enqueueEnd('closed its stream');
    left.failLink('right', 'ended the stream');
  }

  /** Fails both neighbours' links to this rank immediately. */
  closeNow(detail: string, failedRank?: number): void {
    if (this.closed) return;
    this.closed = true;
    const { left, right } = this.network.neighbours(this.rank);
    right.failLink('left', detail, failedRank);
    left.failLink('right', detail, failedRank);
  }

  enqueueIncoming(bytes: Buffer, sender: MemoryTransport): boolean {
    this.incoming.push({ bytes, sender });
    this.schedule();
    return true;
  }

  enqueueEnd(detail: string): void {
    this.incoming.push({ end: detail });
    this.schedule();
  }

  failLink(side: 'left' | 'right', detail: string, failedRank?: number): void {
    if (this.closed) return;
    setImmediate(() => {
      if (!this.closed) this.handlers?.onLinkFailure(side, detail, failedRank);
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.deliver());
  }

  // Delivers one message per macrotask, so that sends, receives and timers interleave.
  private deliver(): void {
    this.scheduled = false;
    if (this.handlers === null || this.paused || this.incoming.length === 0) return;
    const next = this.incoming.shift()!;
    if ('end' in next) {
      if (!this.closed) this.handlers.onLinkFailure('left', next.end);
    } else {
      next.sender.delivered();
      if (!this.closed) this.handlers.onChunk(decodeRingChunk(next.bytes));
    }
    if (this.incoming.length > 0) this.schedule();
  }

  private delivered(): void {
    this.inFlight -= 1;
    if (this.blocked && this.inFlight < this.network.highWaterMark) {
      this.blocked = false;
      if (!this.closed) this.handlers?.onDrain();
    }
  }
}
