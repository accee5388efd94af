import * as ort from 'onnxruntime-node';
import type { RunConfig } from '@ringtrain/config';
import type { TrainingGraph } from '@ringtrain/models';
import type { Optimizer } from '@ringtrain/optim';
import { isMaskStep, sparsityAt, updateMagnitudeMasks, type PruneSchedule } from '@ringtrain/prune';

/**
 * Gradual magnitude pruning inside the compute thread. The masks are inputs of the training
 * graph, so a pruned weight gets a zero gradient on every rank, and the all-reduce sums zeros
 * for it. At each mask update the pruned weights and their optimiser state are set to 0, so
 * momentum cannot move them either. Every rank has the same parameters and computes the
 * same masks, so no rank needs another's.
 */
export class WeightPruner {
  private readonly weights: { values: Float32Array; mask: Float32Array; offset: number }[];
  private readonly tensors: Record<string, ort.Tensor> = {};
  readonly schedule: PruneSchedule;

  constructor(
    graph: TrainingGraph,
    params: Float32Array,
    private readonly config: RunConfig,
    totalSteps: number,
  ) {
    const { sparsity, startStep, endStep, every } = config.prune;
    // Steps count from 0, so the last step of the run is totalSteps - 1.
    // NOTE: a prune.endStep past that step is accepted without a warning, because a run that is
    // resumed for more steps reaches it; this part of the run ends below prune.sparsity.
    this.schedule = { sparsity, startStep, endStep: endStep || totalSteps - 1, every };
    if (this.schedule.endStep < startStep) {
      throw new Error(`prune.startStep ${startStep} is after the run's last step ${totalSteps - 1}; lower it or set prune.endStep`);
    }
    this.weights = (graph.weightMasks ?? []).map(({ name, parameter }) => {
      const spec = graph.parameters.find((p) => p.name === parameter)!;
      const mask = new Float32Array(spec.size).fill(1);
      this.tensors[name] = new ort.Tensor('float32', mask, spec.shape);
      return { values: params.subarray(spec.offset, spec.offset + spec.size), mask, offset: spec.offset };
    });
  }

  /** Adds the mask tensors to a session's feeds. */
  addFeeds(feeds: Record<string, ort.Tensor>): void {
    Object.assign(feeds, this.tensors);
  }

  /** Updates the masks when `step` is a mask step, then zeroes the pruned weights and their optimiser state. */
  beforeStep(step: number, optimizer: Optimizer): void {
    if (!isMaskStep(step, this.schedule)) return;
    updateMagnitudeMasks(this.weights, sparsityAt(step, this.schedule), this.config.prune.scope);
    this.applyMasks(optimizer);
  }

  /**
   * Rebuilds the masks of a resumed run from its parameters: a weight that is exactly 0 was
   * pruned. Before the first mask step nothing was pruned, so the masks stay ones.
   */
  restore(step: number): void {
    if (step <= this.schedule.startStep) return;
    for (const w of this.weights) for (let i = 0; i < w.values.length; i++) w.mask[i] = w.values[i] === 0 ? 0 : 1;
  }

  /** Returns the share of masked weights. */
  sparsity(): number {
    let zeros = 0;
    let total = 0;
    for (const w of this.weights) {
      for (const m of w.mask) if (m === 0) zeros++;
      total += w.mask.length;
    }
    return total === 0 ? 0 : zeros / total;
  }

  private applyMasks(optimizer: Optimizer): void {
    const state = optimizer.exportState();
    for (const w of this.weights) {
      for (let i = 0; i < w.mask.length; i++) {
        if (w.mask[i] !== 0) continue;
        w.values[i] = 0;
        for (const buffer of Object.values(state.buffers)) buffer[w.offset + i] = 0;
      }
    }
    optimizer.importState(state);
  }
}
