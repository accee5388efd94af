import type { RunConfig } from '@ringtrain/config';

/** Data handed to the compute thread when it starts. */
export interface ComputeInit {
  config: RunConfig;
  rank: number;
  worldSize: number;
  threads: number;
}

/** Requests from the main thread; each gets exactly one reply. */
export type ComputeRequest =
  | { type: 'setup'; /** Bytes of the distillation teacher, when the run has one. */ teacher?: Uint8Array }
  | { type: 'initParameters'; /** Bytes of a model file whose tensors start the run (init.from); unset: the seed. */ source?: Uint8Array }
  | { type: 'syncParameters'; direction: 'publish' | 'adopt' }
  | { type: 'loadState'; tensors: Record<string, Float32Array>; state: Record<string, unknown> }
  | { type: 'compute'; step: number }
  | { type: 'apply'; step: number }
  | { type: 'evaluate' }
  | { type: 'snapshot' }
  | { type: 'export' };

/** Layout of the shared buffers, sent back by `setup`. */
export interface ComputeLayout {
  /** Floats of the flat parameter buffer, training-only tensors included. */
  parameterCount: number;
  /** Parameters of the exported model, without training-only tensors such as hidden-state projections. */
  modelParameterCount: number;
  /** Shared copy of the parameters, exchanged with the compute thread by `syncParameters`. */
  parameters: SharedArrayBuffer;
  /** Gradient floats followed by the step statistics (STAT_* offsets). */
  gradients: SharedArrayBuffer;
  stepsPerEpoch: number;
  totalSteps: number;
  samplesPerStep: number;
  /** Tokens per training sample for language models, else 0. */
  tokensPerSample: number;
  /** Split that evaluation scores: the validation text (language models) or the test set. */
  evalSplit: 'val' | 'test';
}

/** Offsets after the gradients in the gradient buffer: summed across ranks with them. */
export const STAT_LOSS_SUM = 0;
export const STAT_CORRECT = 1;
/** Loss terms: samples for classifiers, target tokens for language models. */
export const STAT_COUNT = 2;
export const STAT_SAMPLES = 3;
export const STAT_WORDS = 4;

export type ComputeReply =
  | ({ type: 'setup' } & ComputeLayout)
  | { type: 'done' }
  | { type: 'computed'; computeMs: number; samples: number }
  | { type: 'applied'; optimizerMs: number; lr: number; gradNorm: number }
  | { type: 'evaluated'; lossSum: number; correct: number; count: number }
  | { type: 'snapshot'; tensors: Record<string, Float32Array>; state: Record<string, unknown>; epoch: number }
  | { type: 'exported'; bytes: Uint8Array }
  | { type: 'error'; message: string; stack?: string };
