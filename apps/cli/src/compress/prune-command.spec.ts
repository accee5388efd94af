import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { initParameters, mlpInferenceModel, mlpParameters, readMlpModel, type MlpConfig } from '@ringtrain/models';
import { startCli, writeConfig } from '../testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-prune-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const MODEL: MlpConfig = { inputSize: 784, hidden: [40, 30], classes: 10 };

/** Splits a command line into words as bash does, by letting bash print them. */
function shellWords(line: string): string[] {
  const printed = spawnSync('bash', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  expect(printed.status, printed.stderr).toBe(0);
  return printed.stdout.split('\0').slice(0, -1);
}

async function cli(args: string[]) {
  const run = startCli(args);
  const { code } = await run.exited;
  return { code, output: run.lines.join('\n') };
}

describe('ringtrain prune', () => {
  const dir = join(scratch, 'run');
  mkdirSync(dir);
  const model = join(dir, 'model.onnx');
  writeFileSync(model, mlpInferenceModel(MODEL, initParameters(mlpParameters(MODEL), 2)));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveRunConfig({ model: { hidden: [40, 30] }, train: { steps: 1 } })));

  it('halves the hidden layers, reports the model and fine-tunes from it', async () => {
    const out = join(scratch, 'half.onnx');
    const report = join(scratch, 'report.json');
    const prune = await cli(['prune', '--model', model, '--out', out, '--structured', '--keep', '0.5', '--report', report, '--name', 'units-50']);
    expect(prune.code, prune.output).toBe(0);
    expect(readMlpModel(readFileSync(out)).config.hidden).toEqual([20, 15]);
    const rows = (JSON.parse(readFileSync(report, 'utf8')) as { models: Record<string, unknown>[] }).models;
    expect(rows[0]).toMatchObject({ name: 'units-50', parameters: 784 * 20 + 20 + 20 * 15 + 15 + 15 * 10 + 10 });
    const config = writeConfig(scratch, 'tune', { model: { hidden: [20, 15] }, train: { batchSize: 64, steps: 3 }, cluster: { threadsPerWorker: 1 } });
    const tune = await cli(['launch', '--config', config, '--workers', '2', '--runs-dir', join(scratch, 'runs'), '--set', `init.from=${out}`]);
    expect(tune.code, tune.output).toBe(0);
    // The fine-tuned model joins the same report beside the pruned one.
    const runDir = /^run directory (\S+)$/m.exec(tune.output)![1]!;
    const measured = await cli(['measure', '--model', join(runDir, 'model.onnx'), '--report', report, '--name', 'units-50-tuned']);
    expect(measured.code, measured.output).toBe(0);
    const after = (JSON.parse(readFileSync(report, 'utf8')) as { models: Record<string, unknown>[] }).models;
    expect(after.map((r) => r['name'])).toEqual(['units-50', 'units-50-tuned']);
    expect(after[1]).toHaveProperty('trainWallSeconds');
  });

  it('prints flags that a shell reads back for odd paths', async () => {
    const folder = join(scratch, "odd folder's");
    mkdirSync(folder);
    const cases: [string, string[], string][] = [
      [join(folder, 'small $x.onnx'), ['prune', '--structured', '--keep', '0.5'], 'fine-tune with '],
      [join(folder, 'wide "x".onnx'), ['grow', '--widen', '50,40'], 'continue training with '],
    ];
    for (const [out, args, prefix] of cases) {
      const { code, output } = await cli([...args, '--model', model, '--out', out]);
      expect(code, output).toBe(0);
      const line = output.split('\n').find((l) => l.startsWith(prefix))!;
      const words = shellWords(line.slice(prefix.length));
      expect(words[0], line).toBe('--set');
      expect(words[1], line).toBe(`init.from=${out}`);
      expect(words.slice(2, 4), line).toEqual(['--set', `model.hidden=${args[0] === 'prune' ? '20,15' : '50,40'}`]);
    }
  });

  it('EXPECTED FAILURE - no --structured, or widths beyond the layers', async () => {
    const plain = await cli(['prune', '--model', model, '--out', join(scratch, 'x.onnx'), '--keep', '0.5']);
    expect(plain.code).toBe(2);
    expect(plain.output).toMatch(/pass --structured/);
    const wide = await cli(['prune', '--model', model, '--out', join(scratch, 'x.onnx'), '--structured', '--widths', '50,30']);
    expect(wide.code).toBe(2);
    expect(wide.output).toMatch(/hidden layer 0 has 40 units, so it can keep 1 to 40, got 50/);
  });
});
