import { describe, expect, it } from 'vitest';
import { StepTimer } from './step-timer.js';

describe('StepTimer', () => {
  it('summarises throughput and phase means', () => {
    const timer = new StepTimer();
    timer.add({ computeMs: 8, allreduceMs: 2, optimizerMs: 0, samples: 100 });
    timer.add({ computeMs: 12, allreduceMs: 6, optimizerMs: 2, samples: 100 });
    const summary = timer.summary();
    expect(summary['samplesPerSec']).toBeCloseTo(200 / 0.03, 6);
    expect(summary['computeMs']).toBe(10);
    expect(summary['allreduceMs']).toBe(4);
    expect(summary['optimizerMs']).toBe(1);
    expect(summary['allreduceComputeRatio']).toBeCloseTo(0.4, 12);
  });

  it('restarts the window rate after a reset', () => {
    const timer = new StepTimer();
    timer.add({ computeMs: 10, allreduceMs: 0, optimizerMs: 0, samples: 10 });
    expect(timer.windowRate()).toBe(1000);
    timer.resetWindow();
    expect(timer.windowRate()).toBe(0);
    timer.add({ computeMs: 5, allreduceMs: 5, optimizerMs: 10, samples: 10 });
    expect(timer.windowRate()).toBe(500);
    expect(timer.summary()['samplesPerSec']).toBeCloseTo(20 / 0.03, 6);
  });
});
