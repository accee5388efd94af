import { connect, type Settings } from 'node:http2';

import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { MAX_FRAME_BYTES, raiseServerReceiveWindows, STREAM_RECEIVE_WINDOW_BYTES } from './grpc-flow-control.js';

function bind(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port)));
  });
}

/** Connects a plain HTTP/2 client and returns the server's settings once they include `expected`. */
function settingsSeenBy(port: number, expected: number, timeoutMs: number): Promise<Settings> {
  const session = connect(`http://127.0.0.1:${port}`);
  return new Promise<Settings>((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      resolve(session.remoteSettings);
      session.destroy();
    };
    const timer = setTimeout(finish, timeoutMs);
    session.on('remoteSettings', (settings) => {
      if (settings.initialWindowSize === expected) finish();
    });
    session.on('error', () => undefined);
  });
}

describe('raiseServerReceiveWindows', () => {
  it('should advertise the raised window and frame size', async () => {
    const server = new grpc.Server();
    try {
      const port = await bind(server);
      expect(raiseServerReceiveWindows(server)).toBe(true);
      const settings = await settingsSeenBy(port, STREAM_RECEIVE_WINDOW_BYTES, 5_000);
      expect(settings.initialWindowSize).toBe(STREAM_RECEIVE_WINDOW_BYTES);
      expect(settings.maxFrameSize).toBe(MAX_FRAME_BYTES);
    } finally {
      server.forceShutdown();
    }
  });

  it('should return false before the server is bound', () => {
    const server = new grpc.Server();
    expect(raiseServerReceiveWindows(server)).toBe(false);
    server.forceShutdown();
  });
});
