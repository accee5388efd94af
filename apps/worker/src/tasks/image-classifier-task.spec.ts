import { describe, expect, it } from 'vitest';
import { ConfigError, resolveRunConfig } from '@ringtrain/config';
import { mlpConfigOf } from './image-classifier-task.js';

describe('mlpConfigOf', () => {
  it('passes the input normalisation through', () => {
    const config = resolveRunConfig({ model: { inputMean: 0, inputStd: 1 }, train: { steps: 1 } });
    expect(mlpConfigOf(config)).toMatchObject({ inputMean: 0, inputStd: 1 });
  });

  it('EXPECTED FAILURE - a std that float32 rounds to 0', () => {
    const config = resolveRunConfig({ model: { inputStd: 1e-46 }, train: { steps: 1 } });
    expect(() => mlpConfigOf(config)).toThrow(ConfigError);
    expect(() => mlpConfigOf(config)).toThrow(/model.inputStd 1e-46 is 0 in float32/);
  });

  it('EXPECTED FAILURE - a mean beyond float32', () => {
    const config = resolveRunConfig({ model: { inputMean: 1e39 }, train: { steps: 1 } });
    expect(() => mlpConfigOf(config)).toThrow(/model.inputMean 1e\+39 overflows float32/);
  });
});
