import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { gptInferenceModel, gptParameters, initParameters, mlpInferenceModel, mlpParameters, type GptConfig, type MlpConfig } from '@ringtrain/models';
import { convertToFloat16, quantizeDynamic } from '@ringtrain/quantize';
import { startCli } from '../testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-compressed-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const MLP: MlpConfig = { inputSize: 784, hidden: [16], classes: 10 };
const GPT: GptConfig = { nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8, vocabSize: 5 };

async function cli(args: string[]) {
  const run = startCli(args);
  const { code } = await run.exited;
  return { code, output: run.lines.join('\n') };
}

describe('a model that is already compressed', () => {
  const dir = join(scratch, 'run');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveRunConfig({ model: { hidden: [16] }, train: { steps: 1 } })));
  const mlp = mlpInferenceModel(MLP, initParameters(mlpParameters(MLP), 1));
  const gpt = gptInferenceModel(GPT, initParameters(gptParameters(GPT), 1), { vocab: JSON.stringify(['a', 'b', 'c', 'd', 'e']) });
  const files: [string, Uint8Array, string][] = [
    ['mlp-int8.onnx', quantizeDynamic(mlp).bytes, 'int8'],
    ['mlp-float16.onnx', convertToFloat16(mlp).bytes, 'float16'],
    ['gpt-int8.onnx', quantizeDynamic(gpt).bytes, 'int8'],
  ];
  for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
  const out = join(scratch, 'out.onnx');

  it('EXPECTED FAILURE - quantize, prune or grow it again', async () => {
    for (const [name, , format] of files) {
      const model = join(dir, name);
      const structure = name.startsWith('gpt') ? ['--heads', '1'] : ['--keep', '0.5'];
      const growth = name.startsWith('gpt') ? ['--mlp-hidden', '40'] : ['--widen', '20'];
      const commands: [string, string[]][] = [
        ['quantize dynamic', ['quantize', '--model', model, '--out', out]],
        ['quantize static', ['quantize', '--model', model, '--out', out, '--mode', 'static', '--config', join(dir, 'config.json')]],
        ['quantize float16', ['quantize', '--model', model, '--out', out, '--mode', 'float16']],
        ['prune', ['prune', '--model', model, '--out', out, '--structured', ...structure]],
        ['grow', ['grow', '--model', model, '--out', out, ...growth]],
        ['prune --sparsity', ['prune', '--model', model, '--out', out, '--sparsity', '0.5', '--workers', '1', '--steps', '1', '--runs-dir', join(scratch, 'runs')]],
      ];
      for (const [label, args] of commands) {
        // The run config beside the files is that of an MLP.
        if ((label === 'quantize static' || label === 'prune --sparsity') && name.startsWith('gpt')) continue;
        const result = await cli(args);
        expect(result.code, `${label} ${name}: ${result.output}`).toBe(2);
        expect(result.output, `${label} ${name}`).toMatch(new RegExp(`--model .*${name} is already compressed to ${format} \\(it contains .*\\); pass the float32 model.onnx it was made from`));
        expect(existsSync(out), `${label} ${name} writes nothing`).toBe(false);
      }
    }
    expect(existsSync(join(scratch, 'runs')), 'no fine-tuning run started').toBe(false);
  });
});
