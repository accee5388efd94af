import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { gptInferenceModel, gptParameters, initParameters, mlpInferenceModel, mlpParameters, type GptConfig, type MlpConfig } from '@ringtrain/models';
import { startCli, writeConfig } from '../testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-grow-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const MODEL: MlpConfig = { inputSize: 784, hidden: [24, 16], classes: 10 };

async function cli(args: string[]) {
  const run = startCli(args);
  const { code } = await run.exited;
  return { code, output: run.lines.join('\n') };
}

describe('ringtrain grow', () => {
  const dir = join(scratch, 'run');
  mkdirSync(dir);
  const model = join(dir, 'model.onnx');
  writeFileSync(model, mlpInferenceModel(MODEL, initParameters(mlpParameters(MODEL), 8)));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveRunConfig({ model: { hidden: [24, 16] }, train: { steps: 1 } })));

  it('widen keeps outputs, then trains', async () => {
    const out = join(scratch, 'wide.onnx');
    const grow = await cli(['grow', '--model', model, '--out', out, '--widen', '40,32', '--seed', '3']);
    expect(grow.code, grow.output).toBe(0);
    const difference = Number(/max \|grown - original\| of the logits over 10,000 test images: (\S+)/.exec(grow.output)![1]);
    expect(difference).toBeLessThan(1e-4);
    const config = writeConfig(scratch, 'continue', { model: { hidden: [40, 32] }, train: { batchSize: 64, steps: 3 }, cluster: { threadsPerWorker: 1 } });
    const train = await cli(['launch', '--config', config, '--workers', '2', '--runs-dir', join(scratch, 'runs'), '--set', `init.from=${out}`]);
    expect(train.code, train.output).toBe(0);
    expect(train.output).toMatch(/parameters initialised from a model file/);
  });

  it('deepens with an identity layer', async () => {
    const { code, output } = await cli(['grow', '--model', model, '--out', join(scratch, 'deep.onnx'), '--deepen-after', '0']);
    expect(code, output).toBe(0);
    expect(output).toMatch(/hidden layers 24-16 -> 24-24-16/);
    expect(output).toMatch(/test images: 0\.00e\+0/);
  });

  it('EXPECTED FAILURE - a narrower width, both modes, or a GPT file', async () => {
    const narrow = await cli(['grow', '--model', model, '--out', join(scratch, 'x.onnx'), '--widen', '8,16']);
    expect(narrow.code).toBe(2);
    expect(narrow.output).toMatch(/hidden layer 0 has 24 units/);
    const both = await cli(['grow', '--model', model, '--out', join(scratch, 'x.onnx'), '--widen', '30,30', '--deepen-after', '0']);
    expect(both.code).toBe(2);
    expect(both.output).toMatch(/exactly one of --widen and --deepen-after/);
    const gpt: GptConfig = { nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8, vocabSize: 5 };
    const gptPath = join(scratch, 'gpt.onnx');
    writeFileSync(gptPath, gptInferenceModel(gpt, initParameters(gptParameters(gpt), 1)));
    const notMlp = await cli(['grow', '--model', gptPath, '--out', join(scratch, 'x.onnx'), '--widen', '30,30']);
    expect(notMlp.code).toBe(2);
    expect(notMlp.output).toMatch(/--widen widens the hidden layers of an MLP, but --model .*gpt.onnx is a gpt model; pass --mlp-hidden N/);
  });

  it('EXPECTED FAILURE - blank or non-numeric flags', async () => {
    for (const text of ['', ' ', 'abc', '1.5']) {
      const out = join(scratch, 'deep-x.onnx');
      const { code, output } = await cli(['grow', '--model', model, '--out', out, '--deepen-after', text]);
      expect(code, `'${text}': ${output}`).toBe(2);
      expect(output).toContain(`--deepen-after takes a hidden layer number (0, 1, ...), got '${text}'`);
      expect(existsSync(out), `'${text}' wrote no model`).toBe(false);
    }
    const seed = await cli(['grow', '--model', model, '--out', join(scratch, 'x.onnx'), '--widen', '30,30', '--seed', '']);
    expect(seed.code, seed.output).toBe(2);
    expect(seed.output).toMatch(/--seed must be an integer in \[0, 2\^32\), got ''/);
    const noise = await cli(['grow', '--model', model, '--out', join(scratch, 'x.onnx'), '--widen', '30,30', '--noise', ' ']);
    expect(noise.code, noise.output).toBe(2);
    expect(noise.output).toMatch(/--noise must be a finite number >= 0, got ' '/);
  });

  it('EXPECTED FAILURE - noise that breaks the function', async () => {
    const gpt: GptConfig = { nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8, vocabSize: 5 };
    const gptPath = join(scratch, 'gpt-noise.onnx');
    writeFileSync(gptPath, gptInferenceModel(gpt, initParameters(gptParameters(gpt), 1), { vocab: JSON.stringify(['a', 'b', 'c', 'd', 'e']) }));
    const out = join(scratch, 'noisy.onnx');
    for (const [path, flags] of [[model, ['--widen', '30,30']], [gptPath, ['--mlp-hidden', '40']]] as const) {
      const infinite = await cli(['grow', '--model', path, '--out', out, ...flags, '--noise', 'Infinity']);
      expect(infinite.code, infinite.output).toBe(2);
      expect(infinite.output).toMatch(/--noise must be a finite number >= 0, got 'Infinity'/);
      expect(existsSync(out), `${path} wrote no model`).toBe(false);
    }
    // Noise of 1e30 times the weight std overflows float32 in the MLP's logits.
    const huge = await cli(['grow', '--model', model, '--out', out, '--widen', '30,30', '--noise', '1e30']);
    expect(huge.code, huge.output).toBe(2);
    expect(huge.output).toMatch(/the grown model's logits are not finite \(largest difference (Infinity|NaN)\) with --noise 1e\+30; lower --noise/);
    expect(existsSync(out)).toBe(false);
  });
});
