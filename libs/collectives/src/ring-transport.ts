import type { ChunkHeader, DecodedChunk } from './chunk-codec.js';

/** Neighbour a link connects to: the left one sends to this rank, the right one receives from it. */
export type RingSide = 'left' | 'right';

/** Callbacks through which a transport reports to its ring. */
export interface RingTransportHandlers {
  /** A message arrived from the left neighbour (decoded, or the reason it could not be). */
  onChunk(chunk: DecodedChunk): void;
  /** The link to the right neighbour accepts more data after `send` returned false. */
  onDrain(): void;
  /**
   * A link failed, was cancelled or was ended by the neighbour. `detail` describes how, and
   * `failedRank` is the rank the neighbour blamed when it aborted its ring, if it sent one.
   */
  onLinkFailure(side: RingSide, detail: string, failedRank?: number): void;
}

/**
 * The two links of one rank: a stream from the left neighbour and a stream to the right one,
 * both already established. The ring algorithm in `Ring` runs over any implementation.
 */
export interface RingTransport {
  /** Starts delivering events; messages that arrived earlier are delivered in order after this. */
  start(handlers: RingTransportHandlers): void;
  /**
   * Encodes `payload` with `header` and queues it to the right neighbour. The payload is copied
   * before `send` returns, so the caller may overwrite it afterwards.
   * @returns false when the link is backpressured: send nothing more until `onDrain`
   */
  send(header: ChunkHeader, payload: Float32Array): boolean;
  /** Stops reading from the left neighbour (flow control) until `resumeReceive`. */
  pauseReceive(): void;
  resumeReceive(): void;
  /**
   * Ends both links. With `abort` the links are torn down at once and the neighbours get an error,
   * with the reason where the transport can carry it. Without it, queued data is flushed first.
   */
  close(abort?: RingAbort): Promise<void>;
}

/** Reason a ring tears its links down. */
export interface RingAbort {
  message: string;
  /** Rank blamed for the failure, passed on to the neighbours where the transport can. */
  failedRank: number | null;
}
