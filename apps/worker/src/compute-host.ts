import { Worker } from 'node:worker_threads';
import type { ComputeInit, ComputeReply, ComputeRequest } from './compute-protocol.js';

type ReplyOf<T extends ComputeReply['type']> = Extract<ComputeReply, { type: T }>;

/**
 * Main-thread handle of the compute thread. onnxruntime's `run()` blocks its
 * thread for the whole run, so the session lives there and the gRPC traffic
 * (ring, heartbeats) stays responsive on the main thread.
 */
export class ComputeHost {
  private readonly thread: Worker;
  private waiting: { resolve: (reply: ComputeReply) => void; reject: (err: Error) => void } | undefined;
  private exitError: Error | undefined;

  /** @param threadUrl - the compiled compute-thread module; tests that run from sources pass the built one */
  constructor(init: ComputeInit, threadUrl = new URL('./compute-thread.js', import.meta.url)) {
    this.thread = new Worker(threadUrl, { workerData: init });
    this.thread.on('message', (reply: ComputeReply) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (!waiting) return;
      if (reply.type === 'error') {
        const err = new Error(`compute thread: ${reply.message}`);
        if (reply.stack) err.stack = reply.stack;
        waiting.reject(err);
      } else {
        waiting.resolve(reply);
      }
    });
    this.thread.on('error', (err) => this.stop(new Error(`compute thread crashed: ${err.message}`)));
    this.thread.on('exit', (code) => this.stop(new Error(`compute thread exited with code ${code}`)));
  }

  private stop(err: Error): void {
    this.exitError ??= err;
    this.waiting?.reject(err);
    this.waiting = undefined;
  }

  /** Sends one request and waits for its reply; requests never overlap. */
  async call<T extends ComputeReply['type']>(request: ComputeRequest, expected: T): Promise<ReplyOf<T>> {
    if (this.exitError) throw this.exitError;
    if (this.waiting) throw new Error(`compute thread is busy; '${request.type}' was sent before the previous reply`);
    const reply = await new Promise<ComputeReply>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.thread.postMessage(request);
    });
    if (reply.type !== expected) throw new Error(`compute thread sent '${reply.type}' in reply to '${request.type}'`);
    return reply as ReplyOf<T>;
  }

  async terminate(): Promise<void> {
    this.exitError ??= new Error('compute thread terminated');
    await this.thread.terminate();
  }
}
