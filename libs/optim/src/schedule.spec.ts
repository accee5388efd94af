import { describe, expect, it } from 'vitest';
import { constantSchedule, cosineSchedule, createSchedule, stepSchedule } from './schedule.js';

describe('constantSchedule', () => {
  it('returns lr at every step', () => {
    const lr = constantSchedule(0.3);
    expect(lr(0)).toBe(0.3);
    expect(lr(123456)).toBe(0.3);
  });
});

describe('stepSchedule', () => {
  it('multiplies by gamma every stepSize steps', () => {
    const lr = stepSchedule({ lr: 1, stepSize: 10, gamma: 0.5 });
    expect(lr(0)).toBe(1);
    expect(lr(9)).toBe(1);
    expect(lr(10)).toBe(0.5);
    expect(lr(29)).toBe(0.25);
    expect(lr(30)).toBe(0.125);
  });

  it('BAD CALL - stepSize 0', () => {
    expect(() => stepSchedule({ lr: 1, stepSize: 0 })).toThrow(/stepSize must be an integer >= 1/);
  });
});

describe('cosineSchedule', () => {
  // nanoGPT shakespeare-char: lr 1e-3, warm-up 100, decay to 1e-4 at 5000.
  const lr = cosineSchedule({ lr: 1e-3, minLr: 1e-4, warmupSteps: 100, totalSteps: 5000 });

  it('warms up linearly', () => {
    expect(lr(0)).toBeCloseTo(1e-3 / 101, 15);
    expect(lr(49)).toBeCloseTo((1e-3 * 50) / 101, 15);
    expect(lr(99)).toBeCloseTo((1e-3 * 100) / 101, 15);
  });

  it('reaches lr at the end of warm-up', () => {
    expect(lr(100)).toBeCloseTo(1e-3, 15);
  });

  it('is halfway between lr and minLr at the cosine midpoint', () => {
    expect(lr(2550)).toBeCloseTo(5.5e-4, 12);
  });

  it('decreases monotonically after warm-up', () => {
    for (let step = 101; step <= 5000; step += 7) expect(lr(step)).toBeLessThan(lr(step - 1));
  });

  it('is minLr at and after totalSteps', () => {
    expect(lr(5000)).toBeCloseTo(1e-4, 15);
    expect(lr(5001)).toBe(1e-4);
    expect(lr(1_000_000)).toBe(1e-4);
  });

  it('without warm-up starts at lr', () => {
    const noWarmup = cosineSchedule({ lr: 0.1, totalSteps: 10 });
    expect(noWarmup(0)).toBe(0.1);
    expect(noWarmup(10)).toBe(0);
  });

  it('BAD CALL - totalSteps below warmupSteps', () => {
    expect(() => cosineSchedule({ lr: 1, warmupSteps: 10, totalSteps: 5 })).toThrow(
      /totalSteps must be an integer >= warmupSteps \(10\), got 5/,
    );
  });

  it('BAD CALL - negative step', () => {
    expect(() => lr(-1)).toThrow(/step must be an integer >= 0, got -1/);
  });
});

describe('createSchedule', () => {
  it('builds each named schedule', () => {
    expect(createSchedule({ name: 'constant', lr: 0.2 })(7)).toBe(0.2);
    expect(createSchedule({ name: 'step', lr: 1, stepSize: 2, gamma: 0.5 })(4)).toBe(0.25);
    expect(createSchedule({ name: 'cosine', lr: 1, totalSteps: 2 })(1)).toBeCloseTo(0.5, 15);
  });

  it('BAD CALL - cosine without totalSteps', () => {
    expect(() => createSchedule({ name: 'cosine', lr: 1 })).toThrow(/requires totalSteps/);
  });

  it('BAD CALL - unknown name', () => {
    expect(() => createSchedule({ name: 'linear', lr: 1 })).toThrow(/unknown schedule.name "linear"/);
  });
});
