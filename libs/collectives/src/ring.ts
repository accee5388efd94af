import { ringPb } from '@ringtrain/proto';

import type { ChunkHeader, DecodedChunk } from './chunk-codec.js';
import { CollectiveError, type CollectiveErrorCode } from './collective-error.js';
import { positiveModulo, RingLayout } from './ring-layout.js';
import { resolveRingOptions, type RingOptions } from './ring-options.js';
import type { RingSide, RingTransport } from './ring-transport.js';

const Phase = ringPb.RingChunk_Phase;
const FLOAT32 = ringPb.RingChunk_DType.FLOAT32;
const EMPTY = new Float32Array(0);

/**
 * Time a failure of the left link waits for a failure of the right one, in ms. Neither transport
 * can pass a reason rightward, so a failed left link does not show who is to blame (the
 * left neighbour died, or it aborted because of another rank). The right link does carry one, so
 * within this window a right-link failure, which blames the rank at fault, is reported instead.
 */
const LEFT_FAILURE_GRACE_MS = 200;

/** Identity of one rank in one ring epoch. */
export interface RingConfig {
  rank: number;
  worldSize: number;
  ringEpoch: number;
  options?: RingOptions;
}

/** Per-call figures returned by every collective. */
export interface CollectiveStats {
  /** Collective counter of this call within the ring epoch, the same on every rank. */
  sequence: number;
  /** Payload bytes this rank handed to its link to the right neighbour. */
  bytesSent: number;
  /** Payload bytes this rank received from its left neighbour. */
  bytesReceived: number;
  chunksSent: number;
  chunksReceived: number;
  /** Received payloads that had to be copied because they were not 4-byte aligned. */
  alignmentCopies: number;
  /** Time from the start of the collective (after earlier queued calls) to its end, in ms. */
  elapsedMs: number;
  /** Deadline that applied to this collective, in ms. */
  deadlineMs: number;
}

/** Options of `allReduce` and `barrier`. */
export interface CollectiveCallOptions {
  /** Training step the call belongs to; every rank must pass the same value. */
  step: number;
}

/** Options of `broadcast`. */
export interface BroadcastCallOptions extends CollectiveCallOptions {
  /** Rank whose buffer is copied to every other rank. @defaultValue 0 */
  root?: number;
}

type CollectiveKind = 'all-reduce' | 'broadcast' | 'barrier';

interface ActiveCollective {
  kind: CollectiveKind;
  sequence: number;
  step: number;
  root: number;
  buffer: Float32Array;
  layout: RingLayout;
  expectedReceives: number;
  /** Broadcast data chunks received so far. */
  dataReceived: number;
  /** Received chunk indices per (phase, ring step), to reject duplicates. */
  seen: Map<number, Uint8Array>;
  stats: CollectiveStats;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
  resolve(stats: CollectiveStats): void;
  reject(error: CollectiveError): void;
}

interface QueuedSend {
  header: ChunkHeader;
  payload: Float32Array;
}

/**
 * Collectives of one rank over a ring of `worldSize` ranks: each rank receives from rank - 1 and
 * sends to rank + 1 (mod worldSize) through a `RingTransport`.
 *
 * Collectives are synchronization points: every rank must call the same collectives in the same
 * order, with buffers of equal length. Calls on one ring are queued and run one at a time, and the
 * caller must not read or write a buffer until its call settles.
 *
 * A chunk that does not match what this rank expects, a failed neighbour link or an expired
 * deadline fails the ring. The active call and every later call then reject with a
 * `CollectiveError`. The links are torn down, so the neighbours fail too instead of waiting for
 * their deadlines.
 */
export class Ring {
  readonly rank: number;
  readonly worldSize: number;
  readonly ringEpoch: number;
  /** Rank this rank receives from. */
  readonly leftRank: number;
  /** Rank this rank sends to. */
  readonly rightRank: number;

  private readonly options: Required<RingOptions>;
  private readonly chunkElements: number;
  private nextSequence = 0;
  private active: ActiveCollective | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private failureError: CollectiveError | null = null;
  private closing: Promise<void> | null = null;

  // Chunks of the next collective that arrived while this rank was still in the current one.
  private early: DecodedChunk[] = [];
  private earlyBytes = 0;
  private receivePaused = false;

  // Chunks waiting for the right link to drain, in order.
  private sendQueue: QueuedSend[] = [];
  private sendQueueHead = 0;
  private writable = true;

  /**
   * @param config - rank, world size, ring epoch and options, validated here
   * @param transport - established links to both neighbours; null only for a world size of 1
   * @throws RangeError for an invalid rank, world size, epoch or option
   */
  constructor(
    config: RingConfig,
    private readonly transport: RingTransport | null,
  ) {
    const { rank, worldSize, ringEpoch } = config;
    if (!Number.isInteger(worldSize) || worldSize < 1) {
      throw new RangeError(`worldSize must be a positive integer, got ${worldSize}`);
    }
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new RangeError(`rank must be an integer in [0, ${worldSize - 1}], got ${rank}`);
    }
    if (!Number.isSafeInteger(ringEpoch) || ringEpoch < 0) {
      throw new RangeError(`ringEpoch must be a non-negative integer, got ${ringEpoch}`);
    }
    if ((transport === null) !== (worldSize === 1)) {
      throw new RangeError(`a transport is required exactly when worldSize > 1 (worldSize ${worldSize})`);
    }
    this.rank = rank;
    this.worldSize = worldSize;
    this.ringEpoch = ringEpoch;
    this.leftRank = positiveModulo(rank - 1, worldSize);
    this.rightRank = positiveModulo(rank + 1, worldSize);
    this.options = resolveRingOptions(config.options);
    this.chunkElements = this.options.chunkBytes / 4;
    transport?.start({
      onChunk: (chunk) => this.handleChunk(chunk),
      onDrain: () => this.handleDrain(),
      onLinkFailure: (side, detail, failedRank) => this.handleLinkFailure(side, detail, failedRank),
    });
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.closing !== null;
  }

  /** First failure of this ring, or null while it is healthy. */
  get failure(): CollectiveError | null {
    return this.failureError;
  }

  /**
   * Sums `buffer` elementwise across all ranks, in place (ring reduce-scatter, then all-gather).
   * Every rank ends with bitwise-identical values: each segment is summed once, on the rank that
   * owns it, and copied to the others. `buffer` may be a view of a SharedArrayBuffer.
   *
   * Synchronization point: completes on a rank only after every rank has started it.
   * @throws CollectiveError (as a rejection) on a mismatch, a neighbour failure or the deadline
   */
  allReduce(buffer: Float32Array, options: CollectiveCallOptions): Promise<CollectiveStats> {
    return this.enqueue('all-reduce', buffer, options.step, 0);
  }

  /**
   * Copies `buffer` of rank `root` into `buffer` of every other rank, pipelined chunk by chunk
   * along the ring. A token then circulates once more, so that no rank finishes before every rank
   * has started.
   * @throws RangeError (as a rejection) for a root outside the ring
   * @throws CollectiveError (as a rejection) on a mismatch, a neighbour failure or the deadline
   */
  broadcast(buffer: Float32Array, options: BroadcastCallOptions): Promise<CollectiveStats> {
    const root = options.root ?? 0;
    if (!Number.isInteger(root) || root < 0 || root >= this.worldSize) {
      return Promise.reject(new RangeError(`root must be a rank in [0, ${this.worldSize - 1}], got ${root}`));
    }
    return this.enqueue('broadcast', buffer, options.step, root);
  }

  /**
   * Waits until every rank has called `barrier`: an all-reduce of an empty buffer, which still
   * sends one empty chunk per segment and ring step.
   * @throws CollectiveError (as a rejection) on a mismatch, a neighbour failure or the deadline
   */
  barrier(options: CollectiveCallOptions): Promise<CollectiveStats> {
    return this.enqueue('barrier', EMPTY, options.step, 0);
  }

  /**
   * Closes both links. A collective still running, and every queued one, rejects with
   * `RING_CLOSED`; an idle ring ends its stream to the right neighbour cleanly.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    clearTimeout(this.leftFailureTimer);
    const active = this.active;
    this.active = null;
    if (active !== null) {
      clearTimeout(active.timer);
      active.reject(this.localError('RING_CLOSED', `${describe(active)} was interrupted by close()`));
    }
    const abort = active !== null ? { message: 'the ring was closed during a collective', failedRank: this.rank } : undefined;
    const closeTransport = this.failureError === null ? this.transport?.close(abort) : undefined;
    this.closing = Promise.resolve(closeTransport).catch(() => undefined);
    return this.closing;
  }

  private enqueue(kind: CollectiveKind, buffer: Float32Array, step: number, root: number): Promise<CollectiveStats> {
    if (!(buffer instanceof Float32Array)) {
      return Promise.reject(new TypeError(`${kind} expects a Float32Array buffer, got ${describeValue(buffer)}`));
    }
    if (!Number.isSafeInteger(step) || step < 0) {
      return Promise.reject(new RangeError(`${kind} step must be a non-negative integer, got ${step}`));
    }
    const run = this.tail.then(() => this.run(kind, buffer, step, root));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private run(kind: CollectiveKind, buffer: Float32Array, step: number, root: number): Promise<CollectiveStats> {
    const unusable = this.unusableError(kind);
    if (unusable !== null) return Promise.reject(unusable);
    const sequence = this.nextSequence++;
    const deadlineMs = this.deadlineFor(kind, buffer.length);
    const stats: CollectiveStats = {
      sequence,
      bytesSent: 0,
      bytesReceived: 0,
      chunksSent: 0,
      chunksReceived: 0,
      alignmentCopies: 0,
      elapsedMs: 0,
      deadlineMs,
    };
    if (this.worldSize === 1) return Promise.resolve(stats);

    return new Promise<CollectiveStats>((resolve, reject) => {
      const segmentCount = kind === 'broadcast' ? 1 : this.worldSize;
      const collective: ActiveCollective = {
        kind,
        sequence,
        step,
        root,
        buffer,
        layout: new RingLayout(buffer.length, segmentCount, this.chunkElements),
        expectedReceives: 0,
        dataReceived: 0,
        seen: new Map(),
        stats,
        startedAt: performance.now(),
        timer: undefined,
        resolve,
        reject,
      };
      collective.expectedReceives = this.expectedReceives(collective);
      collective.timer = setTimeout(() => this.handleDeadline(collective), deadlineMs);
      this.active = collective;

      // Own sends that need no input: reduce-scatter step 0, or the root's broadcast data.
      if (kind === 'broadcast') {
        if (this.rank === root) {
          for (let chunk = 0; chunk < collective.layout.chunkCount(0); chunk++) {
            this.sendChunk(collective, Phase.BROADCAST, 0, 0, chunk);
          }
        }
      } else {
        for (let chunk = 0; chunk < collective.layout.chunkCount(this.rank); chunk++) {
          this.sendChunk(collective, Phase.REDUCE_SCATTER, 0, this.rank, chunk);
        }
      }

      // Chunks that arrived before this call.
      const early = this.early;
      this.early = [];
      this.earlyBytes = 0;
      for (const chunk of early) this.handleChunk(chunk);
      if (this.receivePaused && this.active === collective) {
        this.receivePaused = false;
        this.transport!.resumeReceive();
      }
      this.completeIfDone();
    });
  }

  private deadlineFor(kind: CollectiveKind, length: number): number {
    const bytes = length * 4;
    const bytesSent = kind === 'broadcast' ? bytes : (2 * (this.worldSize - 1) * bytes) / this.worldSize;
    return Math.ceil((bytesSent / this.options.minBandwidthBytesPerSecond) * 1000 + this.options.deadlineSlackMs);
  }

  private expectedReceives(collective: ActiveCollective): number {
    const { layout } = collective;
    const n = this.worldSize;
    if (collective.kind === 'broadcast') {
      const position = positiveModulo(this.rank - collective.root, n);
      const dataChunks = position === 0 ? 0 : layout.chunkCount(0);
      const token = position <= n - 2 ? 1 : 0;
      return dataChunks + token;
    }
    let total = 0;
    for (let k = 0; k < n - 1; k++) {
      total += layout.chunkCount(positiveModulo(this.rank - 1 - k, n));
      total += layout.chunkCount(positiveModulo(this.rank - k, n));
    }
    return total;
  }

  private handleChunk(chunk: DecodedChunk): void {
    if (this.failureError !== null || this.closing !== null) return;
    const active = this.active;
    if (!chunk.ok) {
      this.fail(this.chunkError(active, `it is not a valid RingChunk message (${chunk.reason})`));
      return;
    }
    const { header } = chunk;
    if (header.ringEpoch !== this.ringEpoch) {
      this.fail(this.mismatch(active, 'ring epoch', this.ringEpoch, header.ringEpoch));
      return;
    }
    if (header.dtype !== FLOAT32) {
      this.fail(this.mismatch(active, 'dtype', 'FLOAT32', ringPb.ringChunk_DTypeToJSON(header.dtype)));
      return;
    }

    // The left neighbour may already be in the next collective, never further ahead.
    const current = active !== null ? active.sequence : this.nextSequence;
    if (active !== null && header.sequence === current) {
      this.accept(active, header, chunk.payload, chunk.copied);
      return;
    }
    const next = active !== null ? current + 1 : current;
    if (header.sequence === next) {
      this.bufferEarly(chunk);
      return;
    }
    const expected = active !== null ? `${current} (or ${next} for the next collective)` : `${next}`;
    this.fail(this.mismatch(active, 'sequence', expected, header.sequence));
  }

  private bufferEarly(chunk: DecodedChunk & { ok: true }): void {
    this.early.push(chunk);
    this.earlyBytes += chunk.payload.byteLength;
    if (this.earlyBytes > this.options.maxEarlyBytes && !this.receivePaused) {
      this.receivePaused = true;
      this.transport!.pauseReceive();
    }
  }

  private accept(collective: ActiveCollective, header: ChunkHeader, payload: Float32Array, copied: boolean): void {
    if (header.step !== collective.step) {
      this.fail(this.mismatch(collective, 'step', collective.step, header.step));
      return;
    }
    collective.stats.chunksReceived += 1;
    collective.stats.bytesReceived += payload.byteLength;
    if (copied) collective.stats.alignmentCopies += 1;
    const accepted =
      collective.kind === 'broadcast'
        ? this.acceptBroadcast(collective, header, payload)
        : this.acceptAllReduce(collective, header, payload);
    if (accepted) this.completeIfDone();
  }

  private acceptAllReduce(collective: ActiveCollective, header: ChunkHeader, payload: Float32Array): boolean {
    const n = this.worldSize;
    const { buffer, layout } = collective;
    const k = header.ringStep;
    if (header.phase !== Phase.REDUCE_SCATTER && header.phase !== Phase.ALL_GATHER) {
      return this.reject(collective, 'phase', 'REDUCE_SCATTER or ALL_GATHER', ringPb.ringChunk_PhaseToJSON(header.phase));
    }
    if (k > n - 2) return this.reject(collective, 'ring step', `0..${n - 2}`, k);
    const reduce = header.phase === Phase.REDUCE_SCATTER;
    const segment = positiveModulo(reduce ? this.rank - 1 - k : this.rank - k, n);
    if (!this.checkPlacement(collective, header, payload, segment, layout.chunkCount(segment))) return false;

    // Reduce-scatter: add into this rank's copy, then forward the partial sum, or, on the
    // segment's owner after the last step, start its all-gather.
    const { offset, length, chunkIndex } = header;
    if (reduce) {
      for (let i = 0; i < length; i++) buffer[offset + i] += payload[i];
      if (k < n - 2) this.sendChunk(collective, Phase.REDUCE_SCATTER, k + 1, segment, chunkIndex);
      else this.sendChunk(collective, Phase.ALL_GATHER, 0, segment, chunkIndex);
      return true;
    }

    // All-gather: copy the finished sum and forward it until it has gone round.
    buffer.set(payload, offset);
    if (k < n - 2) this.sendChunk(collective, Phase.ALL_GATHER, k + 1, segment, chunkIndex);
    return true;
  }

  private acceptBroadcast(collective: ActiveCollective, header: ChunkHeader, payload: Float32Array): boolean {
    const n = this.worldSize;
    const { layout } = collective;
    const position = positiveModulo(this.rank - collective.root, n);
    const dataChunks = layout.chunkCount(0);
    if (header.phase !== Phase.BROADCAST) {
      return this.reject(collective, 'phase', 'BROADCAST', ringPb.ringChunk_PhaseToJSON(header.phase));
    }

    // Completion token (chunk index = number of data chunks): hop t goes from position t - 1 to t,
    // hop 0 from the last position to the root.
    if (header.chunkIndex === dataChunks && position <= n - 2) {
      if (header.ringStep !== position) return this.reject(collective, 'token ring step', position, header.ringStep);
      if (header.segment !== 0) return this.reject(collective, 'segment', 0, header.segment);
      if (header.offset !== layout.length) return this.reject(collective, 'offset', layout.length, header.offset);
      if (header.length !== 0 || payload.length !== 0) return this.reject(collective, 'length', 0, header.length);
      if (!this.markSeen(collective, header)) return false;
      if (position + 1 <= n - 2) this.sendToken(collective, position + 1);
      return true;
    }
    if (position === 0) {
      return this.reject(collective, 'chunk index', `${dataChunks} (the completion token, as root)`, header.chunkIndex);
    }

    // Data: copy, then forward unless this is the last position, which starts the token.
    if (header.ringStep !== position - 1) {
      return this.reject(collective, `ring step (root ${collective.root})`, position - 1, header.ringStep);
    }
    if (!this.checkPlacement(collective, header, payload, 0, dataChunks)) return false;
    collective.buffer.set(payload, header.offset);
    collective.dataReceived += 1;
    if (position <= n - 2) this.sendChunk(collective, Phase.BROADCAST, position, 0, header.chunkIndex);
    else if (collective.dataReceived === dataChunks) this.sendToken(collective, 0);
    return true;
  }

  /** Checks segment, chunk index, offset, length and duplicates; fails the ring on a mismatch. */
  private checkPlacement(
    collective: ActiveCollective,
    header: ChunkHeader,
    payload: Float32Array,
    segment: number,
    chunkCount: number,
  ): boolean {
    const { layout } = collective;
    if (header.segment !== segment) return this.reject(collective, 'segment', segment, header.segment);
    if (header.chunkIndex >= chunkCount) {
      return this.reject(collective, 'chunk index', `0..${chunkCount - 1}`, header.chunkIndex);
    }
    const offset = layout.chunkOffset(segment, header.chunkIndex);
    const length = layout.chunkLength(segment, header.chunkIndex);
    if (header.offset !== offset) return this.reject(collective, 'offset', offset, header.offset);
    if (header.length !== length) return this.reject(collective, 'length', length, header.length);
    if (payload.length !== length) return this.reject(collective, 'payload elements', length, payload.length);
    return this.markSeen(collective, header);
  }

  private markSeen(collective: ActiveCollective, header: ChunkHeader): boolean {
    const key = header.phase * 0x1_0000_0000 + header.ringStep;
    let seen = collective.seen.get(key);
    if (seen === undefined) {
      seen = new Uint8Array(collective.layout.chunkCount(header.segment) + 1); // + 1: the broadcast token
      collective.seen.set(key, seen);
    }
    if (seen[header.chunkIndex] === 1) {
      const phase = ringPb.ringChunk_PhaseToJSON(header.phase);
      return this.reject(collective, `chunk ${header.chunkIndex} of ${phase} ring step ${header.ringStep}`, 'once', 'twice');
    }
    seen[header.chunkIndex] = 1;
    return true;
  }

  private sendChunk(collective: ActiveCollective, phase: number, ringStep: number, segment: number, chunk: number): void {
    const { layout } = collective;
    const offset = layout.chunkOffset(segment, chunk);
    const length = layout.chunkLength(segment, chunk);
    const header = this.header(collective, phase, ringStep, segment, chunk, offset, length);
    this.queueSend(collective, header, collective.buffer.subarray(offset, offset + length));
  }

  private sendToken(collective: ActiveCollective, hop: number): void {
    const { layout } = collective;
    const header = this.header(collective, Phase.BROADCAST, hop, 0, layout.chunkCount(0), layout.length, 0);
    this.queueSend(collective, header, EMPTY);
  }

  private header(
    collective: ActiveCollective,
    phase: number,
    ringStep: number,
    segment: number,
    chunkIndex: number,
    offset: number,
    length: number,
  ): ChunkHeader {
    return {
      ringEpoch: this.ringEpoch,
      sequence: collective.sequence,
      step: collective.step,
      phase,
      ringStep,
      segment,
      chunkIndex,
      offset,
      length,
      dtype: FLOAT32,
    };
  }

  // NOTE: a queued send reads the buffer only when it is handed to the transport. That is safe:
  // a segment is overwritten only by its all-gather, which cannot reach this rank before every
  // earlier send of that segment has left it, because the sum it carries includes them.
  private queueSend(collective: ActiveCollective, header: ChunkHeader, payload: Float32Array): void {
    collective.stats.chunksSent += 1;
    collective.stats.bytesSent += payload.byteLength;
    if (this.writable && this.sendQueueHead === this.sendQueue.length) {
      this.writable = this.transport!.send(header, payload);
    } else {
      this.sendQueue.push({ header, payload });
    }
  }

  private handleDrain(): void {
    this.writable = true;
    while (this.writable && this.sendQueueHead < this.sendQueue.length) {
      const next = this.sendQueue[this.sendQueueHead++]!;
      this.writable = this.transport!.send(next.header, next.payload);
    }
    if (this.sendQueueHead === this.sendQueue.length) {
      this.sendQueue = [];
      this.sendQueueHead = 0;
    }
    this.completeIfDone();
  }

  private completeIfDone(): void {
    const collective = this.active;
    if (collective === null) return;
    if (collective.stats.chunksReceived < collective.expectedReceives) return;
    if (this.sendQueueHead < this.sendQueue.length) return;
    clearTimeout(collective.timer);
    this.active = null;
    collective.stats.elapsedMs = performance.now() - collective.startedAt;
    collective.resolve(collective.stats);
  }

  private handleDeadline(collective: ActiveCollective): void {
    if (this.active !== collective) return;
    const received = collective.stats.chunksReceived;
    const queued = this.sendQueue.length - this.sendQueueHead;
    const elapsed = Math.round(performance.now() - collective.startedAt);
    const waitingForLeft = received < collective.expectedReceives;
    const peer = waitingForLeft ? this.leftRank : this.rightRank;
    const waitingFor = waitingForLeft
      ? `chunks from its left neighbour rank ${peer} (received ${received} of ${collective.expectedReceives})`
      : `its right neighbour rank ${peer} to accept data (${queued} chunks still queued)`;
    this.fail(
      new CollectiveError(
        'DEADLINE_EXCEEDED',
        this.rank,
        peer,
        `${describe(collective)} timed out at rank ${this.rank} after ${elapsed} ms (deadline ${collective.stats.deadlineMs} ms) ` +
          `waiting for ${waitingFor}; rank ${peer} is dead, stalled or slower than minBandwidthBytesPerSecond`,
      ),
    );
  }

  private handleLinkFailure(side: RingSide, detail: string, failedRank?: number): void {
    if (this.failureError !== null || this.closing !== null) return;
    const peer = side === 'left' ? this.leftRank : this.rightRank;
    const during = this.active !== null ? ` during ${describe(this.active)}` : '';
    const error = new CollectiveError(
      'PEER_UNAVAILABLE',
      this.rank,
      peer,
      `rank ${this.rank} lost its ${side} neighbour rank ${peer}${during}: ${detail}`,
      { failedRank: failedRank ?? peer },
    );
    if (side === 'right') {
      clearTimeout(this.leftFailureTimer);
      this.fail(error);
    } else if (this.leftFailureTimer === undefined) {
      this.leftFailureTimer = setTimeout(() => this.fail(error), LEFT_FAILURE_GRACE_MS);
    }
  }

  private leftFailureTimer: NodeJS.Timeout | undefined;

  private fail(error: CollectiveError): void {
    if (this.failureError !== null || this.closing !== null) return;
    this.failureError = error;
    clearTimeout(this.leftFailureTimer);
    this.early = [];
    this.earlyBytes = 0;
    this.sendQueue = [];
    this.sendQueueHead = 0;
    const active = this.active;
    this.active = null;
    if (active !== null) {
      clearTimeout(active.timer);
      active.reject(error);
    }
    this.transport?.close({ message: error.message, failedRank: error.failedRank }).catch(() => undefined);
  }

  private unusableError(kind: CollectiveKind): CollectiveError | null {
    if (this.closing !== null) {
      return this.localError('RING_CLOSED', `${kind} called on ring epoch ${this.ringEpoch} after close()`);
    }
    const failure = this.failureError;
    if (failure === null) return null;
    return new CollectiveError(
      'RING_FAILED',
      this.rank,
      failure.peerRank,
      `${kind} called on ring epoch ${this.ringEpoch}, which failed earlier at rank ${this.rank}: ${failure.message}`,
      { cause: failure, failedRank: failure.failedRank },
    );
  }

  private localError(code: CollectiveErrorCode, message: string): CollectiveError {
    return new CollectiveError(code, this.rank, null, message);
  }

  private reject(collective: ActiveCollective, field: string, expected: unknown, got: unknown): false {
    this.fail(this.mismatch(collective, field, expected, got));
    return false;
  }

  private mismatch(collective: ActiveCollective | null, field: string, expected: unknown, got: unknown): CollectiveError {
    return this.chunkError(collective, `${field} expected ${String(expected)}, got ${String(got)}`);
  }

  private chunkError(collective: ActiveCollective | null, problem: string): CollectiveError {
    const context = collective !== null ? describe(collective) : `ring epoch ${this.ringEpoch} between collectives`;
    return new CollectiveError(
      'INVALID_CHUNK',
      this.rank,
      this.leftRank,
      `rank ${this.rank} rejected a chunk from its left neighbour rank ${this.leftRank} in ${context}: ${problem}. ` +
        'Every rank must run the same collectives in the same order, with equal buffer lengths, chunkBytes and ring epoch',
    );
  }
}

function describe(collective: ActiveCollective): string {
  const root = collective.kind === 'broadcast' ? ` from root ${collective.root}` : '';
  return `${collective.kind}${root} sequence ${collective.sequence} (step ${collective.step}, ${collective.buffer.length} elements)`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
