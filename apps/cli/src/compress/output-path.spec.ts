import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { initParameters, mlpInferenceModel, mlpParameters, type MlpConfig } from '@ringtrain/models';
import { startCli } from '../testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-out-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const MODEL: MlpConfig = { inputSize: 784, hidden: [12], classes: 10 };

async function cli(args: string[]) {
  const run = startCli(args);
  const { code } = await run.exited;
  return { code, output: run.lines.join('\n') };
}

describe('--out of quantize, prune and grow', () => {
  const dir = join(scratch, 'run');
  mkdirSync(dir);
  const model = join(dir, 'model.onnx');
  const original = mlpInferenceModel(MODEL, initParameters(mlpParameters(MODEL), 4));
  writeFileSync(model, original);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveRunConfig({ model: { hidden: [12] }, train: { batchSize: 64, steps: 1 } })));
  const link = join(scratch, 'link.onnx');
  symlinkSync(model, link);
  const notFolder = join(scratch, 'plain-file');
  writeFileSync(notFolder, 'x');

  const commands: [string, string[]][] = [
    ['quantize', ['quantize']],
    ['quantize float16', ['quantize', '--mode', 'float16']],
    ['prune', ['prune', '--structured', '--keep', '0.5']],
    ['prune --sparsity', ['prune', '--sparsity', '0.5', '--workers', '1', '--steps', '2', '--runs-dir', join(scratch, 'runs')]],
    ['grow', ['grow', '--widen', '16']],
  ];

  it('EXPECTED FAILURE - --out is the --model file', async () => {
    for (const [name, args] of commands) {
      for (const out of [model, link, join(dir, '.', 'model.onnx')]) {
        const { code, output } = await cli([...args, '--model', model, '--out', out]);
        expect(code, `${name} ${out}: ${output}`).toBe(2);
        expect(output, name).toMatch(/--out .* is the --model file; write the new model to another path/);
      }
    }
    expect(Buffer.compare(readFileSync(model), Buffer.from(original)), 'the model file is unchanged').toBe(0);
    expect(existsSync(join(scratch, 'runs')), 'no fine-tuning run started').toBe(false);
  });

  it('EXPECTED FAILURE - --out in a missing folder or naming a folder', async () => {
    for (const [name, args] of commands) {
      const missing = await cli([...args, '--model', model, '--out', join(scratch, 'no-such-folder', 'new.onnx')]);
      expect(missing.code, `${name}: ${missing.output}`).toBe(2);
      expect(missing.output, name).toMatch(/--out .*new\.onnx: the folder .*no-such-folder does not exist; create it or pass a path in an existing folder/);
      const underFile = await cli([...args, '--model', model, '--out', join(notFolder, 'new.onnx')]);
      expect(underFile.code, `${name}: ${underFile.output}`).toBe(2);
      expect(underFile.output, name).toMatch(/plain-file is not a folder/);
      const folder = await cli([...args, '--model', model, '--out', scratch]);
      expect(folder.code, `${name}: ${folder.output}`).toBe(2);
      expect(folder.output, name).toMatch(/--out .* is a folder; pass a file path such as .*new-model\.onnx/);
    }
    expect(statSync(scratch).isDirectory()).toBe(true);
    expect(existsSync(join(scratch, 'runs')), 'no fine-tuning run started').toBe(false);
  });
});
