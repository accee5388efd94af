import { describe, expect, it } from 'vitest';
import { CheckpointError, checkpointName, decodeCheckpoint, encodeCheckpoint } from './checkpoint.js';

const sample = () => ({
  step: 120,
  epoch: 2,
  tensors: {
    parameters: Float32Array.from([1.5, -2, 3e-8, Number.MAX_VALUE > 0 ? 7 : 0]),
    momentum: Float32Array.from([0.25, 0.5, 0.75]),
    empty: new Float32Array(0),
  },
  state: { optimizerStep: 120, name: 'sgd' },
});

describe('checkpoint format', () => {
  it('round-trips tensors bitwise and state', () => {
    const back = decodeCheckpoint(encodeCheckpoint(sample()));
    expect(back.step).toBe(120);
    expect(back.epoch).toBe(2);
    expect(back.tensors['parameters']).toEqual(sample().tensors.parameters);
    expect(back.tensors['momentum']).toEqual(sample().tensors.momentum);
    expect(back.tensors['empty']!.length).toBe(0);
    expect(back.state).toEqual({ optimizerStep: 120, name: 'sgd' });
  });

  it('EXPECTED FAILURE - a flipped byte fails the checksum', () => {
    const bytes = encodeCheckpoint(sample());
    bytes[bytes.length - 40]! ^= 1;
    expect(() => decodeCheckpoint(bytes, 'step-120.ckpt')).toThrow(CheckpointError);
    expect(() => decodeCheckpoint(bytes, 'step-120.ckpt')).toThrow(/step-120.ckpt is corrupt: SHA-256/);
  });

  it('EXPECTED FAILURE - a truncated file is rejected', () => {
    const bytes = encodeCheckpoint(sample());
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 10))).toThrow(/corrupt|truncated/);
  });

  it('EXPECTED FAILURE - another format is rejected', () => {
    expect(() => decodeCheckpoint(Buffer.from('{"not": "a checkpoint"}'.padEnd(64)))).toThrow(/missing magic/);
  });

  it('names files by zero-padded step', () => {
    expect(checkpointName(42)).toBe('checkpoints/step-00000042.ckpt');
  });
});
