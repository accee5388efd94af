import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { readWeights } from '@ringtrain/graph';
import { initParameters, mlpInferenceModel, mlpParameters, type MlpConfig } from '@ringtrain/models';
import { startCli } from '../testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-prune-magnitude-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const MODEL: MlpConfig = { inputSize: 784, hidden: [48, 32], classes: 10 };
const WEIGHTS = 784 * 48 + 48 * 32 + 32 * 10;
const PARAMETERS = WEIGHTS + 48 + 32 + 10;

async function cli(args: string[]) {
  const run = startCli(args);
  const { code } = await run.exited;
  return { code, output: run.lines.join('\n') };
}

describe('ringtrain prune --sparsity', () => {
  const dir = join(scratch, 'teacher');
  mkdirSync(dir);
  const model = join(dir, 'model.onnx');
  writeFileSync(model, mlpInferenceModel(MODEL, initParameters(mlpParameters(MODEL), 6)));
  const run = { model: { hidden: [48, 32] }, train: { batchSize: 64, steps: 1 }, optim: { lr: 0.05 }, cluster: { threadsPerWorker: 1 } };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveRunConfig(run)));

  it('fine-tunes, writes and reports the model', async () => {
    const out = join(scratch, 'pruned.onnx');
    const report = join(scratch, 'report.json');
    const args = ['prune', '--model', model, '--out', out, '--sparsity', '0.9', '--workers', '2', '--steps', '12', '--set', 'prune.every=4'];
    const { code, output } = await cli([...args, '--runs-dir', join(scratch, 'runs'), '--report', report, '--name', 'teacher-pruned-90']);
    expect(code, output).toBe(0);
    // With prune.endStep unset the last mask update is the last step, 11, which reaches the target.
    const zeros = [...readWeights(readFileSync(out)).values()]
      .filter((w) => w.shape.length === 2)
      .reduce((n, w) => n + w.data.filter((v) => v === 0).length, 0);
    expect(zeros).toBe(Math.floor(0.9 * WEIGHTS));
    expect(output).toContain(`${zeros.toLocaleString('en-US')} of ${WEIGHTS.toLocaleString('en-US')} weights in 3 matrices are 0`);
    expect(output).toMatch(/^before: test accuracy \d+\.\d\d% \(\d+ errors\)$/m);
    expect(output).toMatch(/^after pruning and fine-tuning: test accuracy \d+\.\d\d% \(\d+ errors\)$/m);
    const runDir = /^run directory (\S+)$/m.exec(output)![1]!;
    expect(readFileSync(out).equals(readFileSync(join(runDir, 'model.onnx')))).toBe(true);
    const config = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')) as { init: { from: string }; prune: { sparsity: number; every: number } };
    expect(config.init.from).toBe(model);
    expect(config.prune).toMatchObject({ sparsity: 0.9, every: 4 });
    const rows = (JSON.parse(readFileSync(report, 'utf8')) as { models: Record<string, unknown>[] }).models;
    expect(rows.map((r) => r['name'])).toEqual(['teacher-pruned-90']);
    expect(rows[0]).toMatchObject({ parameters: PARAMETERS, nonzeroParameters: PARAMETERS - zeros });
    expect(readFileSync(join(scratch, 'report.md'), 'utf8')).toContain(`(${(PARAMETERS - zeros).toLocaleString('en-US')} nonzero)`);
    for (const key of ['testAccuracy', 'testErrors', 'trainWallSeconds', 'latencyMsBatch1']) expect(rows[0]).toHaveProperty(key);
  });

  it('EXPECTED FAILURE - no workers, structured flags or a bad sparsity', async () => {
    const out = join(scratch, 'x.onnx');
    const workers = await cli(['prune', '--model', model, '--out', out, '--sparsity', '0.5']);
    expect(workers.code).toBe(2);
    expect(workers.output).toMatch(/missing --workers/);
    const mixed = await cli(['prune', '--model', model, '--out', out, '--sparsity', '0.5', '--workers', '2', '--structured']);
    expect(mixed.code).toBe(2);
    expect(mixed.output).toMatch(/--sparsity prunes weights by magnitude and cannot be combined with --structured/);
    const full = await cli(['prune', '--model', model, '--out', out, '--sparsity', '1', '--workers', '2']);
    expect(full.code).toBe(2);
    expect(full.output).toMatch(/--sparsity must be a share of weights in \(0, 0.99\], got '1'/);
    const key = await cli(['prune', '--model', model, '--out', out, '--sparsity', '0.5', '--workers', '2', '--set', 'prune.evry=3']);
    expect(key.code).toBe(2);
    expect(key.output).toMatch(/prune.evry/);
    expect(existsSync(out)).toBe(false);
  });

  it('EXPECTED FAILURE - --set of a key that a flag sets', async () => {
    const out = join(scratch, 'x.onnx');
    const cases: [string[], RegExp][] = [
      [['--set', 'init.from=other.onnx'], /--set init.from=other.onnx conflicts with --model; the fine-tuning starts from --model, so drop the --set/],
      [['--set', 'prune.sparsity=0.2'], /--set prune.sparsity=0.2 conflicts with --sparsity; drop the --set/],
      [['--set', 'prune.scope=layer'], /--set prune.scope=layer conflicts with --scope; drop the --set/],
      [['--steps', '3', '--set', 'train.epochs=1'], /--set train.epochs=1 conflicts with --steps; drop the --set/],
      [['--epochs', '1', '--set', 'train.steps=5'], /--set train.steps=5 conflicts with --epochs; drop the --set/],
    ];
    for (const [extra, message] of cases) {
      const { code, output } = await cli(['prune', '--model', model, '--out', out, '--sparsity', '0.5', '--workers', '1', '--runs-dir', join(scratch, 'conflict-runs'), ...extra]);
      expect(code, `${extra.join(' ')}: ${output}`).toBe(2);
      expect(output, extra.join(' ')).toMatch(message);
    }
    expect(existsSync(join(scratch, 'conflict-runs')), 'no fine-tuning run started').toBe(false);
    expect(existsSync(out)).toBe(false);
  });
});
