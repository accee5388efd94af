// One raw grpc-js client stream with identity (raw bytes) serializers between two processes:
// the ceiling the gRPC ring is compared with. Forked by ring-bench.mjs with the role 'sink',
// 'source' or 'peer' (sink and source in one process, as a rank of a 2-rank ring is), and
// 'tuned' as the second argument to give the sink the HTTP/2 receive windows RingEndpoint uses.
import * as grpc from '@grpc/grpc-js';

import { raiseServerReceiveWindows } from '../dist/grpc-flow-control.js';

const PATH = '/ringtrain.bench.Raw/Stream';
const OPTIONS = {
  'grpc.max_send_message_length': 2 * 1024 * 1024,
  'grpc.max_receive_message_length': 2 * 1024 * 1024,
  'grpc.enable_retries': 0,
};
const identity = (bytes) => bytes;
const [role, tuning] = process.argv.slice(2);

if (role === 'sink' || role === 'peer') {
  // Counts the bytes of each stream and returns the count as the response.
  const server = new grpc.Server(OPTIONS);
  const method = { path: PATH, requestStream: true, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
  server.addService({ Stream: method }, {
    Stream: (call, callback) => {
      let bytes = 0;
      call.on('data', (message) => (bytes += message.length));
      call.on('end', () => callback(null, Buffer.from(String(bytes))));
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    if (tuning === 'tuned' && !raiseServerReceiveWindows(server)) throw new Error('could not raise the HTTP/2 receive windows');
    process.send({ type: 'listening', address: `127.0.0.1:${port}` });
  });
  process.on('message', (message) => {
    if (message.type !== 'close') return;
    server.forceShutdown();
    process.disconnect();
  });
}

if (role === 'source' || role === 'peer') {
  // Sends `bytes` in `chunkBytes` messages on one stream, respecting backpressure, once to warm up
  // and then `iterations` times on the same channel, and reports the time of each until the sink's
  // response.
  process.on('message', async (message) => {
    if (message.type !== 'start') return;
    const { address, bytes, chunkBytes, iterations } = message;
    const client = new grpc.Client(address, grpc.credentials.createInsecure(), OPTIONS);
    const chunk = Buffer.alloc(chunkBytes, 1);
    const times = [];
    for (let i = 0; i <= iterations; i++) {
      const started = performance.now();
      const received = await transfer(client, chunk, bytes);
      if (received !== bytes) throw new Error(`sink received ${received} bytes, expected ${bytes}`);
      if (i > 0) times.push(performance.now() - started);
    }
    process.send({ type: 'done', times });
    client.close();
    if (role === 'source') process.disconnect();
  });
}

function transfer(client, chunk, bytes) {
  const chunkBytes = chunk.length;
  return new Promise((resolve, reject) => {
    const call = client.makeClientStreamRequest(PATH, identity, identity, new grpc.Metadata(), {}, (error, answer) =>
      error ? reject(error) : resolve(Number(answer.toString())),
    );
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunkBytes;
        if (!call.write(chunk)) {
          call.once('drain', pump);
          return;
        }
      }
      call.end();
    };
    pump();
  });
}
