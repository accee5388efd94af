/** Reason an incoming stream was rejected; transports map it to their status codes. */
export type LinkRejection = 'invalid-metadata' | 'stale-epoch' | 'wrong-run' | 'wrong-rank' | 'duplicate' | 'timeout' | 'closed';

/** A stream from a would-be left neighbour, waiting to be accepted or rejected. */
export interface LinkOffer {
  /** Sender's rank, ring epoch and run id, from the stream's metadata or handshake. */
  readonly rank: number;
  readonly ringEpoch: number;
  readonly runId: string;
  /** True once the sender has gone away. */
  readonly gone: boolean;
  accept(): void;
  reject(reason: LinkRejection, message: string): void;
}

/** The left neighbour a `connect` call waits for. */
export interface ExpectedLink {
  rank: number;
  leftRank: number;
  ringEpoch: number;
  runId: string;
}

interface Waiter<T> {
  expected: ExpectedLink;
  resolve(offer: T): void;
}

/**
 * Matches streams from left neighbours with the `connect` call of their ring epoch. A worker
 * listens before it has a rank, and its left neighbour may connect before it does, so streams
 * for an epoch not yet connected are parked for up to `parkTimeoutMs`.
 */
export class Rendezvous<T extends LinkOffer> {
  private parked: Array<{ offer: T; timer: NodeJS.Timeout }> = [];
  private waiter: Waiter<T> | null = null;
  /** Most recent ring epoch passed to `expect`, or -1. */
  private currentEpoch = -1;
  private closed = false;

  constructor(
    private readonly parkTimeoutMs: number,
    private readonly onReject: (offer: T, reason: LinkRejection, message: string) => void = () => undefined,
  ) {}

  /** Accepts, rejects or parks a new incoming stream. */
  offer(offer: T): void {
    if (this.closed) {
      this.rejectOffer(offer, 'closed', 'the receiving endpoint is closing');
      return;
    }
    if (offer.ringEpoch < this.currentEpoch) {
      this.rejectOffer(
        offer,
        'stale-epoch',
        `ring epoch expected ${this.currentEpoch} or later, got ${offer.ringEpoch} from rank ${offer.rank}; the ring was re-formed`,
      );
      return;
    }
    if (this.waiter !== null && offer.ringEpoch === this.waiter.expected.ringEpoch) {
      this.match(this.waiter, offer);
      return;
    }
    if (offer.ringEpoch === this.currentEpoch) {
      this.rejectOffer(offer, 'duplicate', `ring epoch ${offer.ringEpoch} already has a stream from its left neighbour`);
      return;
    }
    const timer = setTimeout(() => {
      this.parked = this.parked.filter((entry) => entry.offer !== offer);
      this.rejectOffer(
        offer,
        'timeout',
        `no ring with epoch ${offer.ringEpoch} was connected at the receiving endpoint within ${this.parkTimeoutMs} ms`,
      );
    }, this.parkTimeoutMs);
    this.parked.push({ offer, timer });
  }

  /**
   * Waits for the stream of `expected.leftRank`. Parked streams of older epochs are rejected.
   * @returns the accepted offer, and `cancel` to stop waiting (the promise then never settles)
   * @throws RangeError when `expected.ringEpoch` is older than an earlier call's epoch
   */
  expect(expected: ExpectedLink): { accepted: Promise<T>; cancel(): void } {
    if (expected.ringEpoch < this.currentEpoch) {
      throw new RangeError(`ring epoch must not go back: expected ${this.currentEpoch} or later, got ${expected.ringEpoch}`);
    }
    this.currentEpoch = expected.ringEpoch;
    let waiter: Waiter<T> | null = null;
    const accepted = new Promise<T>((resolve) => {
      waiter = { expected, resolve };
    });
    this.waiter = waiter;

    // Streams that arrived before this call.
    const parked = this.parked;
    this.parked = [];
    for (const entry of parked) {
      if (entry.offer.ringEpoch > expected.ringEpoch || entry.offer.gone) {
        if (!entry.offer.gone) this.parked.push(entry);
        else clearTimeout(entry.timer);
        continue;
      }
      clearTimeout(entry.timer);
      this.offer(entry.offer);
    }
    return {
      accepted,
      cancel: () => {
        if (this.waiter === waiter) this.waiter = null;
      },
    };
  }

  /** Rejects every parked stream and every later one. */
  close(): void {
    this.closed = true;
    this.waiter = null;
    for (const { offer, timer } of this.parked) {
      clearTimeout(timer);
      this.rejectOffer(offer, 'closed', 'the receiving endpoint is closing');
    }
    this.parked = [];
  }

  private match(waiter: Waiter<T>, offer: T): void {
    const { expected } = waiter;
    const wanted = `rank ${expected.rank} expects its left neighbour rank ${expected.leftRank}`;
    if (offer.runId !== expected.runId) {
      this.rejectOffer(offer, 'wrong-run', `${wanted} of run '${expected.runId}', got run '${offer.runId}' from rank ${offer.rank}`);
      return;
    }
    if (offer.rank !== expected.leftRank) {
      this.rejectOffer(offer, 'wrong-rank', `${wanted} in ring epoch ${expected.ringEpoch}, got rank ${offer.rank}`);
      return;
    }
    this.waiter = null;
    offer.accept();
    waiter.resolve(offer);
  }

  private rejectOffer(offer: T, reason: LinkRejection, message: string): void {
    offer.reject(reason, message);
    this.onReject(offer, reason, message);
  }
}
