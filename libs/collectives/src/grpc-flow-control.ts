import type { Http2Server, Http2Session } from 'node:http2';

import type * as grpc from '@grpc/grpc-js';

/**
 * HTTP/2 receive window of each ring stream, in bytes. With Node's default of 64 KiB the sender
 * waits for a WINDOW_UPDATE after every 64 KiB, which made one grpc-js stream on loopback 1.1 to
 * 2.6 times slower than with this window (bench/ring-bench.mjs on 2 shared cores).
 */
export const STREAM_RECEIVE_WINDOW_BYTES = 16 * 1024 * 1024;

/** HTTP/2 receive window of the whole connection; a ring connection carries one stream. */
export const SESSION_RECEIVE_WINDOW_BYTES = 32 * 1024 * 1024;

/** Largest HTTP/2 DATA frame the server accepts, so that a chunk needs fewer frames. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/**
 * Raises the HTTP/2 receive windows and maximum frame size of every connection `server` accepts
 * from now on. Call it after `bindAsync` has bound the server.
 *
 * grpc-js 1.14 has no server option for these settings: its `grpc-node.flow_control_window`
 * option applies to clients only.
 *
 * @returns false when the server's HTTP/2 servers could not be found, so connections keep Node's
 *   defaults: slower, but correct
 */
export function raiseServerReceiveWindows(server: grpc.Server): boolean {
  // NOTE: `http2Servers` is a private field of grpc-js 1.14's Server (a Map keyed by the Node
  // HTTP/2 servers it listens on). If another grpc-js version renames or reshapes it, this
  // function returns false and changes nothing.
  const http2Servers: unknown = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map) || http2Servers.size === 0) return false;
  const listeners = [...(http2Servers.keys() as IterableIterator<Partial<Http2Server> | null>)];
  if (!listeners.every((listener) => typeof listener?.on === 'function')) return false;
  for (const listener of listeners as Http2Server[]) listener.on('session', raiseSessionReceiveWindows);
  return true;
}

function raiseSessionReceiveWindows(session: Http2Session): void {
  if (session.destroyed) return;
  try {
    session.setLocalWindowSize(SESSION_RECEIVE_WINDOW_BYTES);
    session.settings({ initialWindowSize: STREAM_RECEIVE_WINDOW_BYTES, maxFrameSize: MAX_FRAME_BYTES });
  } catch {
    // The session closed in between; grpc-js reports the connection's end on its calls.
  }
}
