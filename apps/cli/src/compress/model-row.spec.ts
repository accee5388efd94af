import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { defaultTextCorpusPath, loadTextCorpus } from '@ringtrain/data';
import { gptInferenceModel, gptParameters, initParameters, mlpInferenceModel, mlpParameters, type GptConfig, type MlpConfig } from '@ringtrain/models';
import { startCli } from '../testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-model-row-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const FIXTURES = resolve(import.meta.dirname, '../testing/fixtures');
const MLP: MlpConfig = { inputSize: 784, hidden: [16], classes: 10 };
const MLP_PARAMETERS = 784 * 16 + 16 + 16 * 10 + 10;

const TEXT = join(scratch, 'text.txt');
writeFileSync(TEXT, readFileSync(defaultTextCorpusPath(), 'utf8').slice(50_000, 51_000));
const VOCAB = loadTextCorpus({ path: TEXT, blockSize: 8 }).vocab;
const GPT: GptConfig = { nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8, vocabSize: VOCAB.length };
const GPT_RUN = { model: { kind: 'gpt', nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8 }, data: { name: 'text', path: TEXT }, train: { steps: 1 } };

async function cli(args: string[]) {
  const run = startCli(args);
  const { code } = await run.exited;
  return { code, output: run.lines.join('\n') };
}

/** Writes a run directory with `model.onnx` bytes, a run config and, unless null, a summary. */
function runDirectory(name: string, model: Uint8Array, config: unknown, summary: string | null): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'model.onnx'), model);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveRunConfig(config)));
  if (summary !== null) writeFileSync(join(dir, 'summary.json'), summary);
  return dir;
}

const mlpBytes = mlpInferenceModel(MLP, initParameters(mlpParameters(MLP), 1));
const gptBytes = gptInferenceModel(GPT, initParameters(gptParameters(GPT), 1), { vocab: JSON.stringify(VOCAB) });
const mlpRun = runDirectory('mlp', mlpBytes, { model: { hidden: [16] }, train: { steps: 1 } }, JSON.stringify({ parameters: MLP_PARAMETERS, modelBytes: mlpBytes.length }));
const gptRun = runDirectory('gpt', gptBytes, GPT_RUN, JSON.stringify({ parameters: gptParameters(GPT).reduce((n, p) => n + p.size, 0), modelBytes: gptBytes.length }));

/** Asserts a usage error whose message matches, with no stack trace and no file at `out`. */
function expectUsageError(result: { code: number | null; output: string }, message: RegExp, out: string, label: string): void {
  expect(result.code, `${label}: ${result.output}`).toBe(2);
  expect(result.output, label).toMatch(message);
  expect(result.output, `${label} prints no stack trace`).not.toMatch(/\n\s+at /);
  expect(existsSync(out), `${label} writes no ${out}`).toBe(false);
}

describe('a model and a run config of another model', () => {
  const out = join(scratch, 'out.onnx');
  const report = join(scratch, 'report.json');

  it('EXPECTED FAILURE - a gpt model with an mlp run config', async () => {
    const gpt = join(gptRun, 'model.onnx');
    const config = join(mlpRun, 'config.json');
    const message = /--model .*gpt\/model.onnx is a gpt model, but the run config .*mlp\/config.json is for mlp models; pass --config FILE/;
    const cases: [string, string[]][] = [
      ['measure', ['measure', '--model', gpt, '--config', config, '--report', report]],
      ['quantize', ['quantize', '--model', gpt, '--out', out, '--config', config]],
      ['quantize static', ['quantize', '--model', gpt, '--out', out, '--config', config, '--mode', 'static']],
      ['prune', ['prune', '--model', gpt, '--out', out, '--structured', '--heads', '1', '--config', config, '--report', report]],
      ['grow', ['grow', '--model', gpt, '--out', out, '--mlp-hidden', '40', '--config', config, '--report', report]],
    ];
    for (const [label, args] of cases) expectUsageError(await cli(args), message, out, label);
    expect(existsSync(report)).toBe(false);
  });

  it('EXPECTED FAILURE - an mlp model with a gpt run config', async () => {
    const mlp = join(mlpRun, 'model.onnx');
    const config = join(gptRun, 'config.json');
    const message = /--model .*mlp\/model.onnx is a model without modelKind metadata \(an mlp\), but the run config .*gpt\/config.json is for gpt models/;
    const cases: [string, string[]][] = [
      ['measure', ['measure', '--model', mlp, '--config', config, '--report', report]],
      ['quantize', ['quantize', '--model', mlp, '--out', out, '--config', config, '--mode', 'float16']],
      ['prune', ['prune', '--model', mlp, '--out', out, '--structured', '--keep', '0.5', '--config', config, '--report', report]],
      ['grow', ['grow', '--model', mlp, '--out', out, '--widen', '20', '--config', config]],
    ];
    for (const [label, args] of cases) expectUsageError(await cli(args), message, out, label);
  });

  it('EXPECTED FAILURE - a CNN with an mlp run config', async () => {
    const cnn = join(FIXTURES, 'torch-cnn-teacher.onnx');
    const message = /--model .*torch-cnn-teacher.onnx takes 'input' of shape \[batch, 1, 28, 28\], but the run config .*mlp\/config.json feeds \[batch, 784\]/;
    for (const mode of ['dynamic', 'float16']) {
      expectUsageError(await cli(['quantize', '--model', cnn, '--out', out, '--config', join(mlpRun, 'config.json'), '--mode', mode]), message, out, mode);
    }
  });

  it('EXPECTED FAILURE - a gpt run config of another block size or text', async () => {
    const gpt = join(gptRun, 'model.onnx');
    const longer = join(scratch, 'block-16.json');
    writeFileSync(longer, JSON.stringify(resolveRunConfig({ ...GPT_RUN, model: { ...GPT_RUN.model, blockSize: 16 } })));
    const block = await cli(['quantize', '--model', gpt, '--out', out, '--config', longer]);
    expectUsageError(block, /--model .* has a block size of 8 tokens, but the run config .*block-16.json has model.blockSize 16/, out, 'block size');
    const otherText = join(scratch, 'other.txt');
    writeFileSync(otherText, 'abc abc abc '.repeat(50));
    const text = join(scratch, 'other-text.json');
    writeFileSync(text, JSON.stringify(resolveRunConfig({ ...GPT_RUN, data: { name: 'text', path: otherText } })));
    const vocab = await cli(['measure', '--model', gpt, '--config', text, '--report', report]);
    expectUsageError(vocab, /cannot evaluate the model 'gpt' on the data of the run config .*other-text.json: the vocabulary in model.onnx differs/, out, 'vocabulary');
  });
});

describe('the summary.json beside a model', () => {
  it('EXPECTED FAILURE - a summary that is not JSON', async () => {
    const dir = runDirectory('broken-summary', mlpBytes, { model: { hidden: [16] }, train: { steps: 1 } }, '{');
    const out = join(scratch, 'broken-int8.onnx');
    const quantize = await cli(['quantize', '--model', join(dir, 'model.onnx'), '--out', out]);
    expectUsageError(quantize, /cannot read the run summary .*broken-summary\/summary.json: .*JSON/, out, 'quantize');
    const measure = await cli(['measure', '--model', join(dir, 'model.onnx'), '--report', join(dir, 'report.json')]);
    expectUsageError(measure, /cannot read the run summary .*broken-summary\/summary.json/, out, 'measure');
  });

  it('describes model.onnx only, not other files in the run directory', async () => {
    const dir = join(scratch, 'pruned-inside');
    mkdirSync(dir);
    for (const file of ['model.onnx', 'config.json', 'summary.json']) copyFileSync(join(mlpRun, file), join(dir, file));
    const small = join(dir, 'small.onnx');
    const prune = await cli(['prune', '--model', join(dir, 'model.onnx'), '--out', small, '--structured', '--widths', '4']);
    expect(prune.code, prune.output).toBe(0);
    const report = join(dir, 'report.json');
    const quantize = await cli(['quantize', '--model', small, '--out', join(dir, 'small-int8.onnx'), '--report', report]);
    expect(quantize.code, quantize.output).toBe(0);
    const rows = (JSON.parse(readFileSync(report, 'utf8')) as { models: { name: string; parameters: number }[] }).models;
    expect(rows.map((r) => r.name)).toEqual(['small-int8']);
    expect(rows[0]!.parameters, 'the parameters of the 784-4-10 model').toBe(784 * 4 + 4 + 4 * 10 + 10);
    const measure = await cli(['measure', '--model', small, '--report', report]);
    expect(measure.code, measure.output).toBe(2);
    expect(measure.output).toMatch(/summary.json beside .*small.onnx describes another model file/);
  });
});
