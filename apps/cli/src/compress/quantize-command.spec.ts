import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { loadTextCorpus } from '@ringtrain/data';
import { gptInferenceModel, gptParameters, initParameters, mlpInferenceModel, mlpParameters, type MlpConfig } from '@ringtrain/models';
import { launch, readJson, startCli, writeConfig } from '../testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-quantize-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const MODEL: MlpConfig = { inputSize: 784, hidden: [256], classes: 10 };

/** Writes a run directory as a launch leaves it: model.onnx, config.json and summary.json. */
function runDirectory(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'model.onnx'), mlpInferenceModel(MODEL, initParameters(mlpParameters(MODEL), 5)));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveRunConfig({ model: { hidden: [256] }, train: { steps: 1 } })));
  writeFileSync(join(dir, 'summary.json'), JSON.stringify({ parameters: 784 * 256 + 256 + 256 * 10 + 10 }));
  return dir;
}

async function quantize(args: string[]) {
  const run = startCli(['quantize', ...args]);
  const { code } = await run.exited;
  return { code, output: run.lines.join('\n') };
}

describe('ringtrain quantize', () => {
  it('writes a working int8 model and adds its row to a report', async () => {
    const dir = runDirectory('run');
    const out = join(dir, 'int8.onnx');
    const report = join(dir, 'report.json');
    const { code, output } = await quantize(['--model', join(dir, 'model.onnx'), '--out', out, '--report', report, '--name', 'student-int8']);
    expect(code, output).toBe(0);
    expect(output).toMatch(/quantised 2 nodes to int8 \(per channel\): fc0, fc1/);
    expect(output).toMatch(/float32: \d+ test errors/);
    expect(statSync(out).size / statSync(join(dir, 'model.onnx')).size).toBeLessThan(0.27);
    const session = await ort.InferenceSession.create(readFileSync(out));
    const logits = (await session.run({ input: new ort.Tensor('float32', new Float32Array(2 * 784).fill(0.5), [2, 784]) }))['logits']!;
    expect(logits.dims).toEqual([2, 10]);
    const rows = (JSON.parse(readFileSync(report, 'utf8')) as { models: Record<string, unknown>[] }).models;
    expect(rows.map((r) => r['name'])).toEqual(['student-int8']);
    expect(rows[0]).toMatchObject({ parameters: 203_530, modelBytes: statSync(out).size });
    for (const key of ['testAccuracy', 'testErrors', 'latencyMsBatch1', 'samplesPerSecBatch256']) expect(rows[0]).toHaveProperty(key);
    expect(existsSync(join(dir, 'report.md'))).toBe(true);
  });

  it('EXPECTED FAILURE - both weight scale flags', async () => {
    const dir = runDirectory('flags');
    const { code, output } = await quantize(['--model', join(dir, 'model.onnx'), '--out', join(dir, 'q.onnx'), '--per-tensor', '--per-channel']);
    expect(code).toBe(2);
    expect(output).toMatch(/--per-tensor and --per-channel exclude each other/);
  });

  it('EXPECTED FAILURE - a report without a run config', async () => {
    const path = join(scratch, 'bare.onnx');
    writeFileSync(path, mlpInferenceModel(MODEL, initParameters(mlpParameters(MODEL), 1)));
    const { code, output } = await quantize(['--model', path, '--out', join(scratch, 'bare-int8.onnx'), '--report', join(scratch, 'r.json')]);
    expect(code).toBe(2);
    expect(output).toMatch(/--report needs the run config .* pass --config FILE/);
  });

  it('EXPECTED FAILURE - an unknown node, mode or file', async () => {
    const dir = runDirectory('bad');
    const model = join(dir, 'model.onnx');
    const out = join(dir, 'q.onnx');
    const node = await quantize(['--model', model, '--out', out, '--include', 'fc7']);
    expect(node.code).toBe(2);
    expect(node.output).toMatch(/no node named 'fc7'/);
    const mode = await quantize(['--model', model, '--out', out, '--mode', 'float8']);
    expect(mode.code).toBe(2);
    expect(mode.output).toMatch(/--mode float8 is not supported; use dynamic, static, float16/);
    writeFileSync(join(dir, 'text.onnx'), 'not a model');
    const file = await quantize(['--model', join(dir, 'text.onnx'), '--out', out]);
    expect(file.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});

/** A tiny MLP trained for 60 steps, whose run directory the tests quantise. */
const TRAINED = {
  seed: 1,
  model: { kind: 'mlp', hidden: [64] },
  train: { batchSize: 64, steps: 60, logEvery: 20 },
  optim: { name: 'sgd', lr: 0.1, momentum: 0.9 },
  cluster: { threadsPerWorker: 1 },
};

interface ReportRows {
  models: { name: string; modelBytes: number; testAccuracy: number; testErrors: number }[];
}

describe('ringtrain quantize on a trained run', () => {
  let runDir = '';
  let floatErrors = 0;
  const report = () => join(runDir, 'report.json');
  const row = (name: string) => (readJson(report()) as unknown as ReportRows).models.find((r) => r.name === name)!;

  beforeAll(async () => {
    ({ runDir } = await launch(['--config', writeConfig(scratch, 'trained', TRAINED), '--workers', '1'], join(scratch, 'runs')));
    floatErrors = readJson(join(runDir, 'summary.json'))['testErrors'] as number;
  }, 120_000);

  it('static: writes a fused int8 model and a report row', async () => {
    const out = join(runDir, 'static.onnx');
    const { code, output } = await quantize(['--model', join(runDir, 'model.onnx'), '--out', out, '--mode', 'static', '--report', report()]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/quantised 2 nodes to int8 \(static, per-channel weights, uint8 asymmetric activations\): fc0, fc1/);
    expect(output).toMatch(/calibration: minmax on 256 training images, seed 1/);
    expect(output).toMatch(/int8: +\d+ test errors/);
    const ratio = statSync(out).size / statSync(join(runDir, 'model.onnx')).size;
    expect(ratio, 'size ratio').toBeLessThan(0.27);
    // int8 may cost at most 1 point of accuracy: 100 of the 10,000 test images.
    expect(Math.abs(row('static').testErrors - floatErrors), 'test errors against float32').toBeLessThanOrEqual(100);
    expect(row('static').modelBytes).toBe(statSync(out).size);
  });

  it('static: each calibration method and option gives a working model', async () => {
    const cases = [
      ['static-percentile', ['--calibrate', 'percentile', '--percentile', '99.9', '--per-tensor']],
      ['static-entropy', ['--calibrate', 'entropy', '--calibration-samples', '64', '--seed', '7']],
      ['static-symmetric', ['--activations', 'symmetric']],
    ] as const;
    for (const [name, flags] of cases) {
      const out = join(runDir, `${name}.onnx`);
      const { code, output } = await quantize(['--model', join(runDir, 'model.onnx'), '--out', out, '--mode', 'static', ...flags, '--report', report()]);
      expect(code, output).toBe(0);
      // Coarser settings (one scale per tensor, int8 activations) may cost up to 1.5 points.
      expect(Math.abs(row(name).testErrors - floatErrors), name).toBeLessThanOrEqual(150);
      const session = await ort.InferenceSession.create(readFileSync(out));
      const logits = (await session.run({ input: new ort.Tensor('float32', new Float32Array(784).fill(0.5), [1, 784]) }))['logits']!;
      expect(logits.dims, name).toEqual([1, 10]);
      await session.release();
    }
    const output = (await quantize(['--model', join(runDir, 'model.onnx'), '--out', join(runDir, 'e.onnx'), '--mode', 'static', '--calibrate', 'entropy', '--calibration-samples', '64', '--seed', '7'])).output;
    expect(output).toMatch(/calibration: entropy on 64 training images, seed 7/);
    // With int8 activations only the last Gemm, which no Relu follows, fuses on x86.
    if (process.arch === 'x64') {
      const symmetric = await quantize(['--model', join(runDir, 'model.onnx'), '--out', join(runDir, 's.onnx'), '--mode', 'static', '--activations', 'symmetric']);
      expect(symmetric.output).toMatch(/int8 symmetric activations\): fc1/);
      expect(symmetric.output).toMatch(/"node":"fc0".*does not fuse/);
    }
  });

  it('float16: half the size, the same test errors within 2', async () => {
    const out = join(runDir, 'float16.onnx');
    const { code, output } = await quantize(['--model', join(runDir, 'model.onnx'), '--out', out, '--mode', 'float16', '--report', report()]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/stored 4 weights as float16/);
    expect(output).toMatch(/kept in float32: input_mean, input_std/);
    expect(output).toMatch(/float16: \d+ test errors/);
    expect(statSync(out).size / statSync(join(runDir, 'model.onnx')).size).toBeLessThan(0.51);
    expect(Math.abs(row('float16').testErrors - floatErrors)).toBeLessThanOrEqual(2);
    const names = (readJson(report()) as unknown as ReportRows).models.map((r) => r.name);
    expect(names).toEqual(['static', 'static-percentile', 'static-entropy', 'static-symmetric', 'float16']);
  });

  it('EXPECTED FAILURE - bad values and flags of another mode', async () => {
    const model = join(runDir, 'model.onnx');
    const out = join(runDir, 'bad.onnx');
    const cases: [string[], RegExp][] = [
      [['--mode', 'static', '--calibrate', 'kl'], /--calibrate kl is not supported; use minmax, percentile, entropy/],
      [['--mode', 'static', '--calibrate', 'percentile', '--percentile', '120'], /--percentile must be a number in \(0, 100\].*got '120'/],
      [['--mode', 'static', '--percentile', '99'], /--percentile applies only to --calibrate percentile, not --calibrate minmax/],
      [['--mode', 'static', '--calibration-samples', '0'], /--calibration-samples must be a positive integer, got '0'/],
      [['--mode', 'static', '--activations', 'signed'], /--activations signed is not supported; use asymmetric, symmetric/],
      [['--mode', 'static', '--seed', '4294967296'], /--seed must be an integer in \[0, 2\^32\), got '4294967296'/],
      [['--mode', 'static', '--seed', '1.5'], /--seed must be an integer in \[0, 2\^32\), got '1.5'/],
      [['--calibrate', 'entropy'], /--calibrate applies only to --mode static; drop it or add --mode static/],
      [['--mode', 'float16', '--per-tensor'], /--per-tensor applies to int8 weights only/],
      [['--mode', 'static', '--exclude', 'fc0,fc1'], /no MatMul, Gemm or Conv node that onnxruntime runs in int8/],
    ];
    for (const [flags, message] of cases) {
      const { code, output } = await quantize(['--model', model, '--out', out, ...flags]);
      expect(code, flags.join(' ')).toBe(2);
      expect(output, flags.join(' ')).toMatch(message);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('EXPECTED FAILURE - static without a run config', async () => {
    const path = join(scratch, 'lonely.onnx');
    writeFileSync(path, readFileSync(join(runDir, 'model.onnx')));
    const { code, output } = await quantize(['--model', path, '--out', join(scratch, 'lonely-int8.onnx'), '--mode', 'static']);
    expect(code).toBe(2);
    expect(output).toMatch(/--mode static calibrates on the run's training data, but there is no config.json beside .*; pass --config FILE/);
  });
});

describe('ringtrain quantize --mode static of a GPT', () => {
  it('calibrates on training windows and reports the validation loss', async () => {
    const dir = join(scratch, 'gpt');
    mkdirSync(dir);
    const text = join(dir, 'input.txt');
    writeFileSync(text, 'to be, or not to be, that is the question. '.repeat(60));
    const corpus = loadTextCorpus({ path: text, blockSize: 16 });
    const gpt = { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16, vocabSize: corpus.vocab.length };
    writeFileSync(join(dir, 'model.onnx'), gptInferenceModel(gpt, initParameters(gptParameters(gpt), 2), { vocab: JSON.stringify(corpus.vocab) }));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveRunConfig({ model: { kind: 'gpt', nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, data: { name: 'text', path: text }, train: { steps: 1 } })));
    const { code, output } = await quantize(['--model', join(dir, 'model.onnx'), '--out', join(dir, 'int8.onnx'), '--mode', 'static', '--calibration-samples', '40']);
    expect(code, output).toBe(0);
    expect(output).toMatch(/quantised 4 nodes to int8 \(static.*h0.attn.c_attn\/matmul/);
    expect(output).toMatch(/calibration: minmax on 40 training windows of 16 characters, seed 0/);
    expect(output).toMatch(/"node":"lm_head".*computed, not a stored weight/);
    const losses = [...output.matchAll(/valLoss (\d+\.\d+)/g)].map((m) => Number(m[1]));
    expect(losses).toHaveLength(2);
    // An untrained GPT predicts nearly uniformly, so int8 moves its loss by little.
    expect(Math.abs(losses[1]! - losses[0]!)).toBeLessThan(0.05);
  });
});
