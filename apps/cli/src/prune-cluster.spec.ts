import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint } from '@ringtrain/checkpoint';
import { readWeights } from '@ringtrain/graph';
import { mlpParameters } from '@ringtrain/models';
import { sparsityAt } from '@ringtrain/prune';
import { finalParameters, launch, startCli, writeConfig } from './testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-prune-train-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const SCHEDULE = { sparsity: 0.9, startStep: 0, endStep: 20, every: 5 };
const RUN = {
  seed: 2,
  model: { kind: 'mlp', hidden: [48, 32] },
  train: { batchSize: 64, steps: 30, logEvery: 10 },
  optim: { name: 'sgd', lr: 0.05, momentum: 0.9 },
  prune: SCHEDULE,
  checkpoint: { everySteps: 10 },
  cluster: { threadsPerWorker: 1 },
};
const SPECS = mlpParameters({ inputSize: 784, hidden: [48, 32], classes: 10 });
const WEIGHTS = SPECS.filter((s) => s.decay);
const TOTAL = WEIGHTS.reduce((n, s) => n + s.size, 0);

function zeroPositions(params: Float32Array): Set<number> {
  const zeros = new Set<number>();
  for (const spec of WEIGHTS) for (let i = 0; i < spec.size; i++) if (params[spec.offset + i] === 0) zeros.add(spec.offset + i);
  return zeros;
}

function checkpointParameters(runDir: string, step: number): Float32Array {
  const name = `step-${String(step).padStart(8, '0')}.ckpt`;
  return decodeCheckpoint(readFileSync(join(runDir, 'checkpoints', name)), name).tensors['parameters']!;
}

describe('pruning during training', () => {
  let runDir = '';

  it('pruned weights stay 0 through training', async () => {
    ({ runDir } = await launch(['--config', writeConfig(scratch, 'prune', RUN), '--workers', '2'], join(scratch, 'runs')));
    // The checkpoint of step 20 follows steps 15 to 19, which trained with the masks of step 15.
    const afterStep19 = zeroPositions(checkpointParameters(runDir, 20));
    expect(afterStep19.size).toBe(Math.floor(sparsityAt(15, SCHEDULE) * TOTAL));
    // Step 20 prunes to the target, and steps 20 to 29 keep every pruned weight at 0.
    const final = zeroPositions(finalParameters(runDir));
    expect(final.size).toBe(Math.floor(0.9 * TOTAL));
    for (const i of afterStep19) expect(final.has(i), `weight ${i} came back`).toBe(true);
    // The exported model carries the zeros.
    const model = readWeights(readFileSync(join(runDir, 'model.onnx')));
    const zeros = WEIGHTS.reduce((n, s) => n + model.get(s.name)!.data.filter((v) => v === 0).length, 0);
    expect(zeros).toBe(final.size);
    // The report row of the pruned model counts its live parameters beside all of them.
    const report = join(scratch, 'report.json');
    const measured = startCli(['measure', '--model', join(runDir, 'model.onnx'), '--report', report]);
    expect((await measured.exited).code, measured.lines.slice(-20).join('\n')).toBe(0);
    const row = (JSON.parse(readFileSync(report, 'utf8')) as { models: Record<string, number>[] }).models[0]!;
    expect(row['parameters']).toBe(SPECS.reduce((n, s) => n + s.size, 0));
    expect(row['nonzeroParameters']).toBe(row['parameters']! - final.size);
  });

  it('resumes with the same masks as an uninterrupted run', async () => {
    const { runDir: short } = await launch(['--config', writeConfig(scratch, 'short', { ...RUN, train: { ...RUN.train, steps: 20 } }), '--workers', '2'], join(scratch, 'short'));
    const resumed = startCli(['launch', '--resume', short, '--workers', '2', '--set', 'train.steps=30']);
    expect((await resumed.exited).code, resumed.lines.slice(-20).join('\n')).toBe(0);
    expect(Array.from(finalParameters(short))).toEqual(Array.from(finalParameters(runDir)));
  });

  it('EXPECTED FAILURE - pruning a GPT', async () => {
    const run = startCli(['launch', '--config', writeConfig(scratch, 'gpt', { model: { kind: 'gpt' }, data: { name: 'text' }, train: { steps: 1 }, prune: { sparsity: 0.5 } }), '--workers', '1']);
    expect((await run.exited).code).toBe(2);
    expect(run.lines.join('\n')).toMatch(/pruning during training is built for mlp models, but model.kind is gpt/);
  });
});
