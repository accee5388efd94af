import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { defaultTextCorpusPath, loadTextCorpus } from '@ringtrain/data';
import { readWeights } from '@ringtrain/graph';
import { gptInferenceModel, gptParameters, initParameters, mlpInferenceModel, mlpParameters, readTransformerModel, type GptConfig } from '@ringtrain/models';
import { startCli, writeConfig } from '../testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-xform-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const TEXT_PATH = join(scratch, 'text.txt');
writeFileSync(TEXT_PATH, readFileSync(defaultTextCorpusPath(), 'utf8').slice(30_000, 31_000));
const VOCAB = loadTextCorpus({ path: TEXT_PATH, blockSize: 8 }).vocab;
const GPT: GptConfig = { nLayer: 4, nHead: 4, nEmbd: 16, blockSize: 8, vocabSize: VOCAB.length };
const RUN = { model: { kind: 'gpt', nLayer: 4, nHead: 4, nEmbd: 16, blockSize: 8 }, data: { name: 'text', path: TEXT_PATH }, train: { batchSize: 8, steps: 1 } };

async function cli(args: string[]) {
  const run = startCli(args);
  const { code } = await run.exited;
  return { code, output: run.lines.join('\n') };
}

/** Returns the `--set` flags that a command printed after `prefix`, as separate arguments. */
function printedFlags(output: string, prefix: string): string[] {
  const line = output.split('\n').find((l) => l.startsWith(prefix));
  expect(line, output).toBeDefined();
  return line!.slice(prefix.length).trim().split(' ');
}

describe('ringtrain prune and grow on a GPT', () => {
  const dir = join(scratch, 'run');
  mkdirSync(dir);
  const model = join(dir, 'model.onnx');
  writeFileSync(model, gptInferenceModel(GPT, initParameters(gptParameters(GPT), 3), { vocab: JSON.stringify(VOCAB) }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveRunConfig(RUN)));

  it('prunes heads and units, then trains on', async () => {
    const out = join(scratch, 'small.onnx');
    const report = join(scratch, 'report.json');
    const prune = await cli(['prune', '--model', model, '--out', out, '--structured', '--heads', '2', '--mlp-keep', '0.5', '--report', report, '--name', 'gpt-heads-2']);
    expect(prune.code, prune.output).toBe(0);
    expect(prune.output).toMatch(/gpt: 4 blocks, 4 heads of 4, MLP 64 -> 4 blocks, 2 heads of 4, MLP 32/);
    expect(readTransformerModel(readFileSync(out)).config).toMatchObject({ nLayer: 4, nHead: 2, headSize: 4, mlpHidden: 32 });
    expect(statSync(out).size).toBeLessThan(statSync(model).size);
    const rows = (JSON.parse(readFileSync(report, 'utf8')) as { models: Record<string, unknown>[] }).models;
    expect(rows[0]).toMatchObject({ name: 'gpt-heads-2', modelBytes: statSync(out).size });
    expect(rows[0]).toHaveProperty('valLoss');

    // An lr of 1e-30 leaves the weights where init.from put them, up to 1e-29 on the zero biases.
    const flags = printedFlags(prune.output, 'fine-tune with ');
    expect(flags.join(' ')).toBe(`--set init.from=${out} --set model.nLayer=4 --set model.nHead=2 --set model.headSize=4 --set model.mlpHidden=32`);
    const config = writeConfig(scratch, 'tune', { ...RUN, train: { batchSize: 8, steps: 2 }, optim: { name: 'sgd', lr: 1e-30 }, cluster: { threadsPerWorker: 1 } });
    const tune = await cli(['launch', '--config', config, '--workers', '2', '--runs-dir', join(scratch, 'runs'), ...flags]);
    expect(tune.code, tune.output).toBe(0);
    expect(tune.output).toMatch(/parameters initialised from a model file/);
    const runDir = /^run directory (\S+)$/m.exec(tune.output)![1]!;
    const want = readWeights(readFileSync(out));
    const got = readWeights(readFileSync(join(runDir, 'model.onnx')));
    for (const [name, weight] of want) {
      const trained = got.get(name)!.data;
      weight.data.forEach((v, i) => expect(Math.abs(trained[i]! - v), `${name}[${i}]`).toBeLessThan(1e-12));
    }
  });

  it('drops blocks and prints the flags to continue or to distil', async () => {
    const out = join(scratch, 'shallow.onnx');
    const { code, output } = await cli(['prune', '--model', model, '--out', out, '--drop-blocks', '1,3']);
    expect(code, output).toBe(0);
    expect(output).toMatch(/kept blocks 0,2 of 4, renumbered from 0/);
    expect(output).toMatch(/--set model.nLayer=2 --set model.nHead=4/);
    expect(output).toMatch(/--set distill.hiddenStudent=0,1 --set distill.hiddenTeacher=0,2/);
    const original = readWeights(readFileSync(model));
    const shallow = readWeights(readFileSync(out));
    expect(Array.from(shallow.get('h1.mlp.c_fc.weight')!.data)).toEqual(Array.from(original.get('h2.mlp.c_fc.weight')!.data));
    expect(shallow.has('h2.ln_1.weight')).toBe(false);
  });

  it('prints a distil command that a shell reads back for odd paths', async () => {
    const out = join(scratch, "shallow model's copy.onnx");
    const { code, output } = await cli(['prune', '--model', model, '--out', out, '--keep-blocks', '0,2']);
    expect(code, output).toBe(0);
    const line = output.split('\n').find((l) => l.startsWith('or distil it from the original with '))!;
    const printed = spawnSync('bash', ['-c', `printf '%s\\0' ${line.slice('or distil it from the original with '.length)}`], { encoding: 'utf8' });
    expect(printed.status, printed.stderr).toBe(0);
    const words = printed.stdout.split('\0').slice(0, -1);
    expect(words.slice(0, 4), line).toEqual(['ringtrain', 'distill', '--teacher', model]);
    expect(words[words.indexOf('--set') + 1], line).toBe(`init.from=${out}`);
  });

  it('deepens and widens with the same logits on random windows', async () => {
    const out = join(scratch, 'grown.onnx');
    const { code, output } = await cli(['grow', '--model', model, '--out', out, '--deepen-after', '1', '--mlp-hidden', '96', '--seed', '5']);
    expect(code, output).toBe(0);
    const difference = Number(/max \|grown - original\| of the logits over 32 random windows of 8 tokens: (\S+)/.exec(output)![1]);
    expect(difference).toBeLessThan(1e-4);
    expect(printedFlags(output, 'continue training with ').join(' ')).toBe(`--set init.from=${out} --set model.nLayer=5 --set model.nHead=4 --set model.headSize=4 --set model.mlpHidden=96`);
    expect(statSync(out).size).toBeGreaterThan(statSync(model).size);
  });

  it('EXPECTED FAILURE - bad heads, blocks or flags', async () => {
    const out = join(scratch, 'x.onnx');
    const heads = await cli(['prune', '--model', model, '--out', out, '--structured', '--heads', '5']);
    expect(heads.code).toBe(2);
    expect(heads.output).toMatch(/each block has 4 attention heads, so it can keep 1 to 4, got 5/);
    const block = await cli(['prune', '--model', model, '--out', out, '--keep-blocks', '0,7']);
    expect(block.code).toBe(2);
    expect(block.output).toMatch(/block 7 does not exist: the model has blocks 0 to 3/);
    const keep = await cli(['prune', '--model', model, '--out', out, '--structured', '--keep', '0.5']);
    expect(keep.code).toBe(2);
    expect(keep.output).toMatch(/--keep prunes the hidden layers of an MLP, but --model .*model.onnx is a gpt model; pass --heads K/);
    const widen = await cli(['grow', '--model', model, '--out', out, '--widen', '30,30']);
    expect(widen.code).toBe(2);
    expect(widen.output).toMatch(/--widen widens the hidden layers of an MLP, but --model .* is a gpt model; pass --mlp-hidden N/);
    const deepen = await cli(['grow', '--model', model, '--out', out, '--deepen-after', '4']);
    expect(deepen.code).toBe(2);
    expect(deepen.output).toMatch(/a new block goes after a block of the model, 0 to 3, got 4/);
  });

  it('EXPECTED FAILURE - GPT flags for an MLP file', async () => {
    const mlp = join(scratch, 'mlp.onnx');
    const config = { inputSize: 784, hidden: [16], classes: 10 };
    writeFileSync(mlp, mlpInferenceModel(config, initParameters(mlpParameters(config), 1)));
    const out = join(scratch, 'x.onnx');
    const heads = await cli(['prune', '--model', mlp, '--out', out, '--structured', '--heads', '2']);
    expect(heads.code).toBe(2);
    expect(heads.output).toMatch(/--heads 2 needs a gpt or encoder model, but --model .*mlp.onnx has no modelKind gpt or encoder in its metadata.*pass --structured with --keep F/);
    const blocks = await cli(['prune', '--model', mlp, '--out', out, '--keep-blocks', '0']);
    expect(blocks.code).toBe(2);
    expect(blocks.output).toMatch(/--keep-blocks 0 needs a gpt or encoder model/);
    const grow = await cli(['grow', '--model', mlp, '--out', out, '--mlp-hidden', '64']);
    expect(grow.code).toBe(2);
    expect(grow.output).toMatch(/--mlp-hidden widens the blocks of a gpt or encoder, but --model .*mlp.onnx has no such modelKind/);
  });
});
