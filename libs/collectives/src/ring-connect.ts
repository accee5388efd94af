import { CollectiveError } from './collective-error.js';
import type { ExpectedLink, LinkOffer, Rendezvous } from './rendezvous.js';
import { positiveModulo } from './ring-layout.js';
import { resolveRingOptions, type RingOptions } from './ring-options.js';
import type { RingTransport } from './ring-transport.js';
import { Ring } from './ring.js';

/** Position of this rank in a ring epoch, as published by the coordinator. */
export interface RingConnectConfig {
  rank: number;
  worldSize: number;
  /** Advertised address (`host:port`) of every rank, indexed by rank. */
  peers: readonly string[];
  /** Increases each time the coordinator re-forms the ring. */
  ringEpoch: number;
  /** Identifies the training run; streams from other runs are rejected. */
  runId: string;
  options?: RingOptions;
}

/** A stream being opened to the right neighbour. */
export interface OutgoingAttempt<O> {
  /** Resolves once the neighbour accepted the stream; rejects with its reason otherwise. */
  accepted: Promise<O>;
  /** Tears the attempt down. */
  abort(): void;
}

/** Transport operations that `formRing` uses. */
export interface RingLinkFactory<I extends LinkOffer, O> {
  rendezvous: Rendezvous<I>;
  openOutgoing(address: string, identity: { rank: number; ringEpoch: number; runId: string }): OutgoingAttempt<O>;
  createTransport(incoming: I, outgoing: O, options: Required<RingOptions>): RingTransport;
}

/**
 * Validates `config`.
 * @throws TypeError or RangeError naming the invalid field
 */
export function validateConnectConfig(config: RingConnectConfig): void {
  const { rank, worldSize, peers, ringEpoch, runId } = config;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`worldSize must be a positive integer, got ${worldSize}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new RangeError(`rank must be an integer in [0, ${worldSize - 1}], got ${rank}`);
  }
  if (!Array.isArray(peers) || peers.length !== worldSize) {
    throw new RangeError(`peers must list one address per rank (${worldSize}), got ${Array.isArray(peers) ? peers.length : typeof peers}`);
  }
  peers.forEach((address, index) => {
    if (typeof address !== 'string' || !/^.+:\d+$/.test(address)) {
      throw new TypeError(`peers[${index}] must be 'host:port', got ${JSON.stringify(address)}`);
    }
  });
  if (!Number.isSafeInteger(ringEpoch) || ringEpoch < 0) throw new RangeError(`ringEpoch must be a non-negative integer, got ${ringEpoch}`);
  if (typeof runId !== 'string' || runId.length === 0) throw new TypeError(`runId must be a non-empty string, got ${JSON.stringify(runId)}`);
}

/**
 * Forms this rank's part of the ring: waits for the stream from the left neighbour while opening
 * the stream to the right one, both within `connectTimeoutMs`, then returns a `Ring` over them.
 * @throws CollectiveError with code CONNECT_FAILED naming the neighbour that is missing or rejected
 */
export async function formRing<I extends LinkOffer, O>(config: RingConnectConfig, links: RingLinkFactory<I, O>): Promise<Ring> {
  validateConnectConfig(config);
  const options = resolveRingOptions(config.options);
  const { rank, worldSize, ringEpoch, runId } = config;
  if (worldSize === 1) return new Ring({ rank, worldSize, ringEpoch, options }, null);

  const leftRank = positiveModulo(rank - 1, worldSize);
  const rightRank = positiveModulo(rank + 1, worldSize);
  const expected: ExpectedLink = { rank, leftRank, ringEpoch, runId };
  const waiting = links.rendezvous.expect(expected);
  const rightAddress = config.peers[rightRank]!;
  const outgoing = links.openOutgoing(rightAddress, { rank, ringEpoch, runId });
  let incoming: I | null = null;
  let outgoingLink: O | null = null;
  let timer: NodeJS.Timeout | undefined;

  const fail = (peerRank: number, message: string, cause?: unknown): CollectiveError =>
    new CollectiveError('CONNECT_FAILED', rank, peerRank, `rank ${rank} could not join ring epoch ${ringEpoch}: ${message}`, { cause });
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const missing =
        incoming === null
          ? fail(leftRank, `no stream from its left neighbour rank ${leftRank} within ${options.connectTimeoutMs} ms`)
          : fail(rightRank, `its right neighbour rank ${rightRank} at ${rightAddress} did not accept the stream within ${options.connectTimeoutMs} ms`);
      reject(missing);
    }, options.connectTimeoutMs);
  });

  try {
    await Promise.race([
      Promise.all([
        waiting.accepted.then((offer) => {
          incoming = offer;
        }),
        outgoing.accepted.then(
          (link) => {
            outgoingLink = link;
          },
          (error: unknown) => {
            const detail = error instanceof Error ? error.message : String(error);
            throw fail(rightRank, `its right neighbour rank ${rightRank} at ${rightAddress} rejected the stream: ${detail}`, error);
          },
        ),
      ]),
      timeout,
    ]);
  } catch (error) {
    waiting.cancel();
    outgoing.abort();
    (incoming as I | null)?.reject('closed', `rank ${rank} failed to join ring epoch ${ringEpoch}`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const transport = links.createTransport(incoming!, outgoingLink!, options);
  return new Ring({ rank, worldSize, ringEpoch, options }, transport);
}
