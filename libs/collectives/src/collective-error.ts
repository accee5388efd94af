/**
 * Category of a collective failure.
 *
 * - `DEADLINE_EXCEEDED`: a collective did not finish within its deadline.
 * - `PEER_UNAVAILABLE`: a neighbour's stream failed, was cancelled or ended.
 * - `INVALID_CHUNK`: a chunk from the left neighbour did not match what this rank expected.
 * - `CONNECT_FAILED`: the ring could not be formed (timeout, or a neighbour rejected the stream).
 * - `RING_FAILED`: a call on a ring that had already failed; `cause` is the first failure.
 * - `RING_CLOSED`: a call on a ring that was closed, or a collective interrupted by `close()`.
 */
export type CollectiveErrorCode =
  | 'DEADLINE_EXCEEDED'
  | 'PEER_UNAVAILABLE'
  | 'INVALID_CHUNK'
  | 'CONNECT_FAILED'
  | 'RING_FAILED'
  | 'RING_CLOSED';

/** Failure of a ring collective, naming the local rank and the neighbour involved. */
export class CollectiveError extends Error {
  override readonly name = 'CollectiveError';

  /**
   * @param code - category of the failure
   * @param rank - rank of the process that raised the error
   * @param peerRank - rank of the neighbour this rank was waiting for or heard from, or null when
   *   the failure is local (for example a call after `close()`)
   * @param message - what failed, with the expected and received values
   * @param options - `cause`: the underlying error; `failedRank`: see the property (defaults to
   *   `peerRank`)
   */
  constructor(
    readonly code: CollectiveErrorCode,
    readonly rank: number,
    readonly peerRank: number | null,
    message: string,
    options: { cause?: unknown; failedRank?: number | null } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.failedRank = options.failedRank === undefined ? peerRank : options.failedRank;
  }

  /**
   * Rank blamed for the failure: `peerRank` when this rank detected it, or the rank named by a
   * neighbour that aborted its ring because of it. Null for local failures.
   */
  readonly failedRank: number | null;
}
