import type { Logger } from '@ringtrain/logging';
import type { coordinatorPb } from '@ringtrain/proto';
import type { CoordinatorClient } from './coordinator-client.js';

const FLUSH_INTERVAL_MS = 1000;

/**
 * Batches per-step metrics and sends them in the background: `push` returns at
 * once, and only the end of the run (`flush`) waits for the coordinator.
 */
export class MetricsReporter {
  private queue: coordinatorPb.StepMetrics[] = [];
  private inFlight: Promise<void> = Promise.resolve();
  private lastFlushMs = 0;

  constructor(
    private readonly client: CoordinatorClient,
    private readonly log: Logger,
  ) {}

  push(record: coordinatorPb.StepMetrics): void {
    this.queue.push(record);
    if (Date.now() - this.lastFlushMs >= FLUSH_INTERVAL_MS) void this.flush();
  }

  /** Sends what is queued; resolves when everything sent so far has been acknowledged. */
  flush(): Promise<void> {
    this.lastFlushMs = Date.now();
    const batch = this.queue;
    this.queue = [];
    if (batch.length > 0) {
      this.inFlight = this.inFlight.then(() =>
        this.client
          .reportMetrics(batch)
          .catch((err: Error) => this.log.warn({ err: err.message, records: batch.length }, 'metrics batch lost')),
      );
    }
    return this.inFlight;
  }
}
