import { createServer, connect as connectSocket, type Server, type Socket } from 'node:net';

import { type ChunkHeader, decodeRingChunk, encodeRingChunk, MAX_HEADER_BYTES } from './chunk-codec.js';
import type { RingEndpointOptions } from './grpc-endpoint.js';
import { FrameReader, frameBytes } from './frame-reader.js';
import { type LinkOffer, type LinkRejection, Rendezvous } from './rendezvous.js';
import { formRing, type RingConnectConfig } from './ring-connect.js';
import { MAX_CHUNK_BYTES, type RingOptions } from './ring-options.js';
import type { RingAbort, RingTransport, RingTransportHandlers } from './ring-transport.js';
import type { Ring } from './ring.js';
import { SEND_POOL_BYTES, SendBufferPool } from './send-buffer-pool.js';

/** Largest data frame: a chunk of `MAX_CHUNK_BYTES` plus its header. */
const MAX_DATA_FRAME_BYTES = MAX_CHUNK_BYTES + MAX_HEADER_BYTES;
/** Largest handshake or control frame (JSON). */
const MAX_CONTROL_FRAME_BYTES = 64 * 1024;
/** Time a new connection has to send its handshake, in ms. */
const HELLO_TIMEOUT_MS = 10_000;
/** Pause between attempts to reach a neighbour that is not listening yet, in ms. */
const RECONNECT_DELAY_MS = 100;

/** First frame on a connection, from the sender (left neighbour). */
interface Hello {
  rank: number;
  ringEpoch: number;
  runId: string;
}

/** Frames from the receiver back to the sender: the handshake reply, then `abort` or `end`. */
type ControlMessage =
  | { ok: true }
  | { ok: false; reason: LinkRejection; message: string }
  | { abort: string; failedRank: number | null }
  | { end: number };

function controlFrame(message: ControlMessage): Buffer {
  return frameBytes(Buffer.from(JSON.stringify(message), 'utf8'));
}

/** A connection from a would-be left neighbour that has sent its handshake. */
class NetIncoming implements LinkOffer {
  gone = false;
  /** Data frames that arrived after the handshake, before a transport took over. */
  readonly early: Buffer[] = [];
  onData: ((frame: Buffer) => void) | null = null;

  constructor(
    readonly socket: Socket,
    readonly rank: number,
    readonly ringEpoch: number,
    readonly runId: string,
  ) {
    socket.once('close', () => {
      this.gone = true;
    });
  }

  accept(): void {
    this.socket.write(controlFrame({ ok: true }));
  }

  reject(reason: LinkRejection, message: string): void {
    if (this.socket.destroyed) return;
    this.socket.end(controlFrame({ ok: false, reason, message }));
  }

  deliver(frame: Buffer): void {
    if (this.onData === null) this.early.push(frame);
    else this.onData(frame);
  }
}

interface NetOutgoing {
  socket: Socket;
  /** Receives control frames from the right neighbour after the handshake. */
  setControlHandler(handler: (message: ControlMessage) => void): void;
}

/**
 * A worker's endpoint for ring traffic over plain TCP sockets: the same ring algorithm and chunk
 * encoding as `RingEndpoint`, with each `RingChunk` message behind a 4-byte big-endian length
 * instead of inside gRPC. Exists to measure what gRPC costs; the API matches `RingEndpoint`.
 *
 * Handshake: the sender's first frame is JSON `{ rank, ringEpoch, runId }`; the receiver replies
 * `{ ok: true }` or `{ ok: false, reason, message }`. Later frames from the receiver are
 * `{ abort: reason }` when its ring fails and `{ end: chunks }` when it closes.
 */
export class NetRingEndpoint {
  private readonly rendezvous: Rendezvous<NetIncoming>;
  private readonly sockets = new Set<Socket>();
  private ring: Ring | null = null;
  private streamCount = 0;

  private constructor(
    private readonly server: Server,
    /** Address to advertise to the other ranks, `host:port`. */
    readonly address: string,
    options: RingEndpointOptions,
  ) {
    this.rendezvous = new Rendezvous<NetIncoming>(options.pendingStreamTimeoutMs ?? 30_000, (offer, reason, message) =>
      options.logger?.warn({ peerRank: offer.rank, ringEpoch: offer.ringEpoch, runId: offer.runId, reason }, `rejected ring stream: ${message}`),
    );
    server.on('connection', (socket) => this.handleConnection(socket));
  }

  /**
   * Listens for ring traffic on `address` (`host:port`; port 0 picks a free port).
   * @throws Error when the address cannot be bound
   */
  static async listen(address: string, options: RingEndpointOptions = {}): Promise<NetRingEndpoint> {
    const { host, port } = splitAddress(address);
    const server = createServer();
    const rawHost = address.slice(0, address.lastIndexOf(':'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new Error(`could not listen for ring traffic on ${address}: ${error.message}`, { cause: error })));
      server.listen({ host, port }, () => resolve());
    });
    const bound = server.address();
    const boundPort = typeof bound === 'object' && bound !== null ? bound.port : port;
    return new NetRingEndpoint(server, `${rawHost}:${boundPort}`, options);
  }

  /**
   * Joins ring epoch `config.ringEpoch` as `config.rank`, like `RingEndpoint.connect`.
   * @throws Error when a ring of this endpoint is still open
   * @throws CollectiveError with code CONNECT_FAILED when the ring cannot be formed in time
   */
  async connect(config: RingConnectConfig): Promise<Ring> {
    if (this.ring !== null && this.ring.failure === null && !this.ring.closed) {
      throw new Error(`close ring epoch ${this.ring.ringEpoch} before connecting ring epoch ${config.ringEpoch}`);
    }
    this.ring = await formRing(config, {
      rendezvous: this.rendezvous,
      openOutgoing: (address, identity) => this.openOutgoing(address, identity),
      createTransport: (incoming, outgoing, options) => new NetRingTransport(incoming, outgoing, options),
    });
    return this.ring;
  }

  /** Number of ring streams this endpoint has received, accepted or not. */
  get incomingStreams(): number {
    return this.streamCount;
  }

  /** Closes the open ring (interrupting a running collective), then every socket and the server. */
  async close(): Promise<void> {
    this.rendezvous.close();
    await this.ring?.close();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);
  }

  private handleConnection(socket: Socket): void {
    this.streamCount += 1;
    this.track(socket);
    socket.on('error', () => undefined); // 'close' follows; the transport reports it
    let incoming: NetIncoming | null = null;
    const helloTimer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    const reader = new FrameReader(
      MAX_DATA_FRAME_BYTES,
      (frame) => {
        if (incoming !== null) {
          incoming.deliver(frame);
          return;
        }
        clearTimeout(helloTimer);
        const hello = parseHello(frame);
        if (typeof hello === 'string') {
          socket.end(controlFrame({ ok: false, reason: 'invalid-metadata', message: hello }));
          return;
        }
        incoming = new NetIncoming(socket, hello.rank, hello.ringEpoch, hello.runId);
        this.rendezvous.offer(incoming);
      },
      (message) => socket.destroy(new Error(message)),
    );
    socket.on('data', (data: Buffer) => reader.push(data));
  }

  private openOutgoing(address: string, identity: Hello) {
    const { host, port } = splitAddress(address);
    let aborted = false;
    let current: Socket | null = null;
    const accepted = new Promise<NetOutgoing>((resolve, reject) => {
      const attempt = () => {
        if (aborted) return;
        const socket = connectSocket({ host, port });
        current = socket;
        this.track(socket);
        let controlHandler: ((message: ControlMessage) => void) | null = null;
        let answered = false;
        socket.once('error', (error: NodeJS.ErrnoException) => {
          // Not listening yet: retry until `formRing` gives up and aborts.
          if (!answered && error.code === 'ECONNREFUSED') setTimeout(attempt, RECONNECT_DELAY_MS);
          else if (!answered) reject(error);
        });
        socket.on('error', () => undefined);
        socket.once('connect', () => socket.write(frameBytes(Buffer.from(JSON.stringify(identity), 'utf8'))));
        const reader = new FrameReader(
          MAX_CONTROL_FRAME_BYTES,
          (frame) => {
            const message = parseControl(frame);
            if (!answered) {
              answered = true;
              if ('ok' in message && message.ok) {
                resolve({ socket, setControlHandler: (handler) => (controlHandler = handler) });
              } else {
                reject(new Error('message' in message ? `${message.reason}: ${message.message}` : 'invalid handshake reply'));
                socket.destroy();
              }
              return;
            }
            controlHandler?.(message);
          },
          (message) => socket.destroy(new Error(message)),
        );
        socket.on('data', (data: Buffer) => reader.push(data));
        socket.once('close', () => {
          if (!answered && !aborted && current === socket && !socket.errored) reject(new Error('the connection closed during the handshake'));
        });
      };
      attempt();
    });
    accepted.catch(() => undefined);
    return {
      accepted,
      abort: () => {
        aborted = true;
        (current as Socket | null)?.destroy();
      },
    };
  }
}

/** A ring's two sockets: the one accepted from the left neighbour and the one opened to the right. */
class NetRingTransport implements RingTransport {
  private handlers: RingTransportHandlers | null = null;
  private pendingFailure: { side: 'left' | 'right'; detail: string; failedRank: number | undefined } | null = null;
  private closed = false;
  private chunksReceived = 0;
  private readonly pool: SendBufferPool;
  private readonly allocate = (bytes: number) => this.pool.take(bytes);

  constructor(
    private readonly incoming: NetIncoming,
    private readonly outgoing: NetOutgoing,
    private readonly options: Required<RingOptions>,
  ) {
    this.pool = new SendBufferPool(4 + options.chunkBytes + MAX_HEADER_BYTES, SEND_POOL_BYTES);
    const left = incoming.socket;
    const right = outgoing.socket;
    left.once('end', () => this.linkFailed('left', 'closed its stream'));
    left.once('close', () => this.linkFailed('left', 'connection closed (process died, or its ring failed or closed)'));
    right.on('drain', () => this.handlers?.onDrain());
    right.once('close', () => this.linkFailed('right', 'connection closed (process died, or its ring failed or closed)'));
    outgoing.setControlHandler((message: ControlMessage) => {
      if ('abort' in message) this.linkFailed('right', `aborted its ring: ${message.abort}`, message.failedRank ?? undefined);
      else if ('end' in message) this.linkFailed('right', 'ended the stream');
    });
  }

  start(handlers: RingTransportHandlers): void {
    this.handlers = handlers;
    const deliver = (frame: Buffer) => {
      this.chunksReceived += 1;
      handlers.onChunk(decodeRingChunk(frame));
    };
    for (const frame of this.incoming.early.splice(0)) deliver(frame);
    this.incoming.onData = deliver;
    const pending = this.pendingFailure;
    if (pending !== null) handlers.onLinkFailure(pending.side, pending.detail, pending.failedRank);
  }

  send(header: ChunkHeader, payload: Float32Array): boolean {
    if (this.closed) return true;
    const frame = encodeRingChunk(header, payload, { prefixBytes: 4, receiverMessageOffset: 0, allocate: this.allocate });
    frame.writeUInt32BE(frame.length - 4, 0);
    // The socket runs the callback once the frame is written to the kernel (or the write failed).
    return this.outgoing.socket.write(frame, () => this.pool.release(frame));
  }

  pauseReceive(): void {
    this.incoming.socket.pause();
  }

  resumeReceive(): void {
    this.incoming.socket.resume();
  }

  async close(abort?: RingAbort): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const left = this.incoming.socket;
    const right = this.outgoing.socket;
    if (abort !== undefined) {
      // As with gRPC, only the left neighbour receives the reason. The right one gets a closed socket.
      left.end(controlFrame({ abort: abort.message, failedRank: abort.failedRank }));
      right.destroy();
      setTimeout(() => left.destroy(), this.options.closeTimeoutMs).unref();
      return;
    }
    left.end(controlFrame({ end: this.chunksReceived }));
    right.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise((resolve) => right.once('close', resolve)),
      new Promise((resolve) => (timer = setTimeout(resolve, this.options.closeTimeoutMs))),
    ]);
    clearTimeout(timer);
    right.destroy();
    left.destroy();
  }

  private linkFailed(side: 'left' | 'right', detail: string, failedRank?: number): void {
    if (this.closed) return;
    if (this.handlers === null) this.pendingFailure ??= { side, detail, failedRank };
    else this.handlers.onLinkFailure(side, detail, failedRank);
  }
}

function parseHello(frame: Buffer): Hello | string {
  let hello: Partial<Hello>;
  try {
    hello = JSON.parse(frame.toString('utf8')) as Partial<Hello>;
  } catch {
    return 'the first frame must be a JSON handshake { rank, ringEpoch, runId }';
  }
  const { rank, ringEpoch, runId } = hello;
  if (!Number.isSafeInteger(rank) || rank! < 0 || !Number.isSafeInteger(ringEpoch) || ringEpoch! < 0 || typeof runId !== 'string') {
    return `handshake needs rank and ringEpoch (non-negative integers) and runId (string), got ${frame.toString('utf8').slice(0, 200)}`;
  }
  return { rank: rank!, ringEpoch: ringEpoch!, runId };
}

function parseControl(frame: Buffer): ControlMessage {
  try {
    return JSON.parse(frame.toString('utf8')) as ControlMessage;
  } catch {
    return { abort: 'the receiver sent an invalid control frame', failedRank: null };
  }
}

function splitAddress(address: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(address);
  if (match === null || match[1] === '') {
    throw new TypeError(`address must be 'host:port' with an explicit host, got ${JSON.stringify(address)}`);
  }
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]) };
}
