/** Time of one training step, split into its phases, in ms. */
export interface StepTiming {
  computeMs: number;
  allreduceMs: number;
  /** Everything after the all-reduce: the optimiser and the message round trip to the compute thread. */
  optimizerMs: number;
  samples: number;
  /** Training tokens of language models, else 0. */
  tokens?: number;
}

/**
 * Accumulates step timings over the whole run (for summary.json) and over the current logging
 * window (for metrics.jsonl). Only training steps count: evaluation and checkpoints are excluded.
 */
export class StepTimer {
  private steps = 0;
  private samples = 0;
  private tokens = 0;
  private readonly totals = { computeMs: 0, allreduceMs: 0, optimizerMs: 0 };
  private windowMs = 0;
  private windowSamples = 0;

  add(timing: StepTiming): void {
    const stepMs = timing.computeMs + timing.allreduceMs + timing.optimizerMs;
    this.steps++;
    this.samples += timing.samples;
    this.tokens += timing.tokens ?? 0;
    this.totals.computeMs += timing.computeMs;
    this.totals.allreduceMs += timing.allreduceMs;
    this.totals.optimizerMs += timing.optimizerMs;
    this.windowMs += stepMs;
    this.windowSamples += timing.samples;
  }

  /** Samples per second since the last `resetWindow`. */
  windowRate(): number {
    return this.windowMs > 0 ? (this.windowSamples / this.windowMs) * 1000 : 0;
  }

  resetWindow(): void {
    this.windowMs = 0;
    this.windowSamples = 0;
  }

  /** Throughput and mean phase times over every step added. */
  summary(): Record<string, number> {
    const { computeMs, allreduceMs, optimizerMs } = this.totals;
    const totalMs = computeMs + allreduceMs + optimizerMs;
    const steps = Math.max(1, this.steps);
    return {
      samplesPerSec: totalMs > 0 ? (this.samples / totalMs) * 1000 : 0,
      ...(this.tokens > 0 ? { tokensPerSec: totalMs > 0 ? (this.tokens / totalMs) * 1000 : 0 } : {}),
      computeMs: computeMs / steps,
      allreduceMs: allreduceMs / steps,
      optimizerMs: optimizerMs / steps,
      allreduceComputeRatio: computeMs > 0 ? allreduceMs / computeMs : 0,
    };
  }
}
