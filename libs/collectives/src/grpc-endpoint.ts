import * as grpc from '@grpc/grpc-js';
import { ringPb } from '@ringtrain/proto';

import { type DecodedChunk, decodeRingChunk, encodeRingChunk, type ChunkHeader, MAX_HEADER_BYTES } from './chunk-codec.js';
import { raiseServerReceiveWindows } from './grpc-flow-control.js';
import { formRing, type RingConnectConfig } from './ring-connect.js';
import { type LinkOffer, type LinkRejection, Rendezvous } from './rendezvous.js';
import { MAX_CHUNK_BYTES, type RingOptions } from './ring-options.js';
import type { RingAbort, RingTransport, RingTransportHandlers } from './ring-transport.js';
import type { Ring } from './ring.js';
import { SEND_POOL_BYTES, SendBufferPool } from './send-buffer-pool.js';

type RingStreamSummary = ringPb.RingStreamSummary;

/** Call metadata keys naming the sender of a ring stream. */
export const RING_METADATA = Object.freeze({
  rank: 'ringtrain-rank',
  ringEpoch: 'ringtrain-ring-epoch',
  runId: 'ringtrain-run-id',
});

/** Trailer of an aborted stream naming the rank the aborting ring blamed. */
const FAILED_RANK_TRAILER = 'ringtrain-failed-rank';

/** Largest gRPC message of a ring stream: a chunk of `MAX_CHUNK_BYTES` plus its header. */
const MAX_MESSAGE_BYTES = MAX_CHUNK_BYTES + MAX_HEADER_BYTES;

/** grpc-js 1.14 frames each message behind a 5-byte header and the receiver reassembles it so. */
const GRPC_MESSAGE_OFFSET = 5;

const STREAM_PATH = '/ringtrain.v1.Ring/Stream';

// `ringtrain.v1.Ring/Stream` with raw-bytes serializers: chunks are encoded by `encodeRingChunk`
// before `write` and decoded by hand, so the payload is copied once on each side at most.
const ringStreamMethod = {
  path: STREAM_PATH,
  requestStream: true,
  responseStream: false,
  requestSerialize: (message: Buffer): Buffer => message,
  requestDeserialize: (message: Buffer): DecodedChunk => decodeRingChunk(message),
  responseSerialize: (summary: RingStreamSummary): Buffer => Buffer.from(ringPb.RingStreamSummary.encode(summary).finish()),
  responseDeserialize: (bytes: Buffer): RingStreamSummary => ringPb.RingStreamSummary.decode(bytes),
} as const;

const ringServiceDefinition: grpc.ServiceDefinition = { Stream: ringStreamMethod };

// The ring stream lives as long as its ring epoch, so it has no call deadline. Keepalive pings
// detect a dead connection between collectives; each collective has its own deadline.
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  // Retries would keep sent messages in a retry buffer; a ring stream is never retried.
  'grpc.enable_retries': 0,
  // One connection per ring, not shared with other clients of the same address.
  'grpc.use_local_subchannel_pool': 1,
};

const REJECTION_STATUS: Record<LinkRejection, grpc.status> = {
  'invalid-metadata': grpc.status.INVALID_ARGUMENT,
  'stale-epoch': grpc.status.FAILED_PRECONDITION,
  'wrong-run': grpc.status.PERMISSION_DENIED,
  'wrong-rank': grpc.status.PERMISSION_DENIED,
  duplicate: grpc.status.ALREADY_EXISTS,
  timeout: grpc.status.DEADLINE_EXCEEDED,
  closed: grpc.status.UNAVAILABLE,
};

/** Structured logger for rejected streams; pino's `warn(object, message)` fits. */
export interface RingLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** Settings of a `RingEndpoint` or `NetRingEndpoint`. */
export interface RingEndpointOptions {
  /**
   * Time a stream from a left neighbour waits for `connect` with its ring epoch, in ms.
   * @defaultValue 30_000
   */
  pendingStreamTimeoutMs?: number;
  /** Receives a warning for every rejected incoming stream. */
  logger?: RingLogger;
}

type IncomingCall = grpc.ServerReadableStream<DecodedChunk, RingStreamSummary>;

/** An incoming `Stream` call from a would-be left neighbour. */
class GrpcIncoming implements LinkOffer {
  gone = false;
  private responded = false;

  constructor(
    readonly call: IncomingCall,
    private readonly callback: grpc.sendUnaryData<RingStreamSummary>,
    readonly rank: number,
    readonly ringEpoch: number,
    readonly runId: string,
  ) {
    const markGone = () => {
      this.gone = true;
    };
    call.on('cancelled', markGone);
    call.on('error', markGone);
  }

  accept(): void {
    this.call.sendMetadata(new grpc.Metadata());
  }

  reject(reason: LinkRejection, message: string): void {
    this.respondError(REJECTION_STATUS[reason], message);
  }

  respondOk(summary: RingStreamSummary): void {
    if (this.responded) return;
    this.responded = true;
    this.callback(null, summary);
  }

  respondError(code: grpc.status, details: string, metadata?: grpc.Metadata): void {
    if (this.responded) return;
    this.responded = true;
    this.callback({ code, details, ...(metadata ? { metadata } : {}) });
  }
}

/** The client side of a `Stream` call to the right neighbour. */
interface GrpcOutgoing {
  client: grpc.Client;
  call: grpc.ClientWritableStream<Buffer>;
  /** Settles with the call's final status. */
  finished: Promise<grpc.ServiceError | null>;
}

/**
 * A worker's gRPC endpoint for ring traffic: it serves `ringtrain.v1.Ring` and forms one ring per
 * ring epoch, with one long-lived client stream to the right neighbour reused by every collective.
 *
 * ```ts
 * const endpoint = await RingEndpoint.listen('127.0.0.1:0');
 * // advertise endpoint.address, receive rank and peers from the coordinator, then:
 * const ring = await endpoint.connect({ rank, worldSize, peers, ringEpoch, runId });
 * const { elapsedMs } = await ring.allReduce(gradients, { step });
 * await ring.close();
 * await endpoint.close();
 * ```
 */
export class RingEndpoint {
  private readonly rendezvous: Rendezvous<GrpcIncoming>;
  private ring: Ring | null = null;
  private streamCount = 0;

  private constructor(
    private readonly server: grpc.Server,
    /** Address to advertise to the other ranks, `host:port`. */
    readonly address: string,
    private readonly options: RingEndpointOptions,
  ) {
    this.rendezvous = new Rendezvous<GrpcIncoming>(options.pendingStreamTimeoutMs ?? 30_000, (offer, reason, message) =>
      options.logger?.warn({ peerRank: offer.rank, ringEpoch: offer.ringEpoch, runId: offer.runId, reason }, `rejected ring stream: ${message}`),
    );
  }

  /**
   * Starts a gRPC server for ring traffic on `address` (`host:port`; port 0 picks a free port).
   * @throws Error when the address cannot be bound
   */
  static async listen(address: string, options: RingEndpointOptions = {}): Promise<RingEndpoint> {
    const { host } = splitHostPort(address);
    const server = new grpc.Server(CHANNEL_OPTIONS);
    let endpoint: RingEndpoint | null = null;
    server.addService(ringServiceDefinition, {
      Stream: (call: IncomingCall, callback: grpc.sendUnaryData<RingStreamSummary>) => endpoint!.handleStream(call, callback),
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, boundPort) =>
        error ? reject(new Error(`could not listen for ring traffic on ${address}: ${error.message}`, { cause: error })) : resolve(boundPort),
      );
    });
    if (!raiseServerReceiveWindows(server)) {
      options.logger?.warn(
        { address },
        'could not raise the HTTP/2 receive windows of the ring server (grpc-js internals changed); ring traffic will be slower',
      );
    }
    endpoint = new RingEndpoint(server, `${host}:${port}`, options);
    return endpoint;
  }

  /**
   * Joins ring epoch `config.ringEpoch` as `config.rank`: accepts the stream of the left neighbour
   * (checking its rank, ring epoch and run id) and opens one to the right neighbour. Only one ring
   * per endpoint may be open at a time.
   * @throws Error when a ring of this endpoint is still open
   * @throws CollectiveError with code CONNECT_FAILED when the ring cannot be formed in time
   */
  async connect(config: RingConnectConfig): Promise<Ring> {
    if (this.ring !== null && this.ring.failure === null && !this.ring.closed) {
      throw new Error(`close ring epoch ${this.ring.ringEpoch} before connecting ring epoch ${config.ringEpoch}`);
    }
    const ring = await formRing(config, {
      rendezvous: this.rendezvous,
      openOutgoing: (address, identity) => openOutgoing(address, identity),
      createTransport: (incoming, outgoing, options) => new GrpcRingTransport(incoming, outgoing, options),
    });
    this.ring = ring;
    return ring;
  }

  /** Number of ring streams this endpoint has received, accepted or not. */
  get incomingStreams(): number {
    return this.streamCount;
  }

  /**
   * Closes the open ring (interrupting a running collective), rejects pending streams and stops
   * the server, cancelling any remaining calls.
   */
  async close(): Promise<void> {
    this.rendezvous.close();
    await this.ring?.close();
    this.server.forceShutdown();
  }

  private handleStream(call: IncomingCall, callback: grpc.sendUnaryData<RingStreamSummary>): void {
    this.streamCount += 1;
    const rank = Number(call.metadata.get(RING_METADATA.rank)[0]);
    const ringEpoch = Number(call.metadata.get(RING_METADATA.ringEpoch)[0]);
    const runId = call.metadata.get(RING_METADATA.runId)[0];
    const incoming = new GrpcIncoming(call, callback, rank, ringEpoch, typeof runId === 'string' ? runId : '');
    if (!Number.isSafeInteger(rank) || rank < 0 || !Number.isSafeInteger(ringEpoch) || ringEpoch < 0 || typeof runId !== 'string') {
      const message =
        `a ring stream needs metadata ${RING_METADATA.rank}, ${RING_METADATA.ringEpoch} (non-negative integers) and ` +
        `${RING_METADATA.runId}, got ${JSON.stringify(call.metadata.getMap())}`;
      incoming.reject('invalid-metadata', message);
      this.options.logger?.warn({ reason: 'invalid-metadata' }, `rejected ring stream: ${message}`);
      return;
    }
    this.rendezvous.offer(incoming);
  }
}

function openOutgoing(address: string, identity: { rank: number; ringEpoch: number; runId: string }) {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  // waitForReady: a neighbour that advertised its address may still be starting its server.
  const metadata = new grpc.Metadata({ waitForReady: true });
  metadata.set(RING_METADATA.rank, String(identity.rank));
  metadata.set(RING_METADATA.ringEpoch, String(identity.ringEpoch));
  metadata.set(RING_METADATA.runId, identity.runId);
  let settle: (error: grpc.ServiceError | null) => void = () => undefined;
  const finished = new Promise<grpc.ServiceError | null>((resolve) => {
    settle = resolve;
  });
  const call = client.makeClientStreamRequest<Buffer, RingStreamSummary>(
    STREAM_PATH,
    ringStreamMethod.requestSerialize,
    ringStreamMethod.responseDeserialize,
    metadata,
    {},
    (error) => settle(error ?? null),
  );
  const accepted = new Promise<GrpcOutgoing>((resolve, reject) => {
    call.once('metadata', () => resolve({ client, call, finished }));
    finished.then((error) =>
      reject(new Error(error ? `${grpc.status[error.code]}: ${error.details}` : 'the stream ended before it was accepted')),
    );
  });
  accepted.catch(() => undefined);
  return {
    accepted,
    abort: () => {
      call.cancel();
      client.close();
    },
  };
}

/** A ring's two gRPC streams: the server call from the left neighbour and the client call to the right. */
class GrpcRingTransport implements RingTransport {
  private handlers: RingTransportHandlers | null = null;
  private pendingFailure: { side: 'left' | 'right'; detail: string; failedRank: number | undefined } | null = null;
  private closed = false;
  private chunksReceived = 0;
  private readonly pool: SendBufferPool;
  private readonly allocate = (bytes: number) => this.pool.take(bytes);

  constructor(
    private readonly incoming: GrpcIncoming,
    private readonly outgoing: GrpcOutgoing,
    private readonly options: Required<RingOptions>,
  ) {
    this.pool = new SendBufferPool(options.chunkBytes + MAX_HEADER_BYTES, SEND_POOL_BYTES);
    const { call } = incoming;
    call.on('end', () => {
      incoming.respondOk({ chunks: this.chunksReceived });
      this.linkFailed('left', 'closed its stream');
    });
    call.on('cancelled', () => this.linkFailed('left', 'cancelled its stream (process died, or its ring failed or closed)'));
    call.on('error', (error: Error) => this.linkFailed('left', `stream failed: ${error.message}`));
    outgoing.call.on('drain', () => this.handlers?.onDrain());
    outgoing.call.on('error', () => undefined); // reported through `finished`
    outgoing.finished.then((error) => {
      const detail = error ? `stream failed with ${grpc.status[error.code]}: ${error.details}` : 'ended the stream';
      const failedRank = Number(error?.metadata?.get(FAILED_RANK_TRAILER)[0]);
      this.linkFailed('right', detail, Number.isSafeInteger(failedRank) ? failedRank : undefined);
    });
  }

  start(handlers: RingTransportHandlers): void {
    this.handlers = handlers;
    this.incoming.call.on('data', (chunk: DecodedChunk) => {
      this.chunksReceived += 1;
      handlers.onChunk(chunk);
    });
    const pending = this.pendingFailure;
    if (pending !== null) handlers.onLinkFailure(pending.side, pending.detail, pending.failedRank);
  }

  send(header: ChunkHeader, payload: Float32Array): boolean {
    if (this.closed) return true;
    const encoding = { prefixBytes: 0, receiverMessageOffset: GRPC_MESSAGE_OFFSET, allocate: this.allocate };
    const message = encodeRingChunk(header, payload, encoding);
    // NOTE: grpc-js 1.14 runs a write's callback only after copying the message into its own
    // framed buffer, so the buffer is free for reuse then. Should a later version call back
    // earlier, chunks would carry other chunks' bytes, which the bitwise all-reduce tests catch.
    return this.outgoing.call.write(message, () => this.pool.release(message));
  }

  pauseReceive(): void {
    this.incoming.call.pause();
  }

  resumeReceive(): void {
    this.incoming.call.resume();
  }

  async close(abort?: RingAbort): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const { client, call, finished } = this.outgoing;
    if (abort !== undefined) {
      // NOTE: a client stream cannot carry a reason, so the right neighbour only gets a cancel.
      // The left neighbour gets the reason and the blamed rank in the status.
      call.cancel();
      const trailers = new grpc.Metadata();
      if (abort.failedRank !== null) trailers.set(FAILED_RANK_TRAILER, String(abort.failedRank));
      this.incoming.respondError(grpc.status.ABORTED, `the receiving rank aborted its ring: ${abort.message}`, trailers);
      client.close();
      return;
    }
    call.end();
    this.incoming.respondOk({ chunks: this.chunksReceived });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((resolve) => (timer = setTimeout(resolve, this.options.closeTimeoutMs)))]);
    clearTimeout(timer);
    call.cancel();
    client.close();
  }

  private linkFailed(side: 'left' | 'right', detail: string, failedRank?: number): void {
    if (this.closed) return;
    if (this.handlers === null) this.pendingFailure ??= { side, detail, failedRank };
    else this.handlers.onLinkFailure(side, detail, failedRank);
  }
}

function splitHostPort(address: string): { host: string; port: string } {
  const match = /^(.*):(\d+)$/.exec(address);
  if (match === null || match[1] === '') {
    throw new TypeError(`address must be 'host:port' with an explicit host, got ${JSON.stringify(address)}`);
  }
  return { host: match[1]!, port: match[2]! };
}
