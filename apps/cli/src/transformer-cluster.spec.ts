import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultTextCorpusPath } from '@ringtrain/data';
import { gptParameters } from '@ringtrain/models';
import { CLI_MAIN, finalParameters, launch, readJson, relativeError, startCli, writeConfig } from './testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-transformers-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/*
 * A 400-character text, so that one epoch is 21.5 global batches. Runs of 24 steps then cross an
 * epoch boundary and take one partial batch, which leaves ranks and micro-batches with uneven
 * counts.
 */
const TEXT = readFileSync(defaultTextCorpusPath(), 'utf8').slice(20_000, 20_400);
const TEXT_PATH = join(scratch, 'text.txt');
writeFileSync(TEXT_PATH, TEXT);

const TINY_GPT = {
  seed: 3,
  model: { kind: 'gpt', nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 16, dropout: 0.2 },
  data: { name: 'text', path: TEXT_PATH },
  train: { batchSize: 16, steps: 24, logEvery: 4, evalEvery: 12 },
  optim: { name: 'sgd', lr: 0.1, momentum: 0.9, clipNorm: 1.0 },
  schedule: { name: 'cosine', warmupSteps: 4, minLr: 0.01 },
  cluster: { threadsPerWorker: 1 },
};

function readMetrics(runDir: string): Record<string, number>[] {
  const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
  return lines.map((line) => JSON.parse(line) as Record<string, number>);
}

describe('GPT data-parallel training', () => {
  it('parameters match across worker and micro-batch counts', async () => {
    const config = writeConfig(scratch, 'gpt', TINY_GPT);
    const variants = [
      { workers: 1, accumulate: 1 },
      { workers: 2, accumulate: 1 },
      { workers: 1, accumulate: 4 },
      { workers: 2, accumulate: 2 },
    ];
    const runs = [];
    for (const v of variants) {
      const dir = join(scratch, `gpt-${v.workers}-${v.accumulate}`);
      const args = ['--config', config, '--workers', String(v.workers), '--set', `train.accumulate=${v.accumulate}`];
      runs.push(await launch(args, dir));
    }
    const [single, ...others] = runs.map((r) => finalParameters(r.runDir));
    const vocabSize = new Set(TEXT).size;
    const specs = gptParameters({ nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 16, vocabSize });
    expect(single!.length).toBe(specs[specs.length - 1]!.offset + specs[specs.length - 1]!.size);
    for (const [i, params] of others.entries()) {
      const { workers, accumulate } = variants[i + 1]!;
      for (const spec of specs) {
        const a = params!.subarray(spec.offset, spec.offset + spec.size);
        const b = single!.subarray(spec.offset, spec.offset + spec.size);
        expect(relativeError(a, b), `${workers} workers, accumulate ${accumulate}, tensor ${spec.name}`).toBeLessThan(1e-5);
      }
    }
    const summary = readJson(join(runs[0]!.runDir, 'summary.json'));
    expect(summary['steps']).toBe(24);
    expect(summary['epochs'] as number).toBeGreaterThan(1);
  });
});

describe('language-model run directory', () => {
  it('contains valLoss, tokensPerSec and model.onnx for generate', async () => {
    const config = writeConfig(scratch, 'gpt-contract', { ...TINY_GPT, train: { ...TINY_GPT.train, steps: 8, evalEvery: 4 } });
    const { runDir } = await launch(['--config', config, '--workers', '2'], join(scratch, 'gpt-contract'));
    const summary = readJson(join(runDir, 'summary.json'));
    for (const key of ['tokensPerSec', 'samplesPerSec', 'trainLoss', 'valLoss', 'parameters', 'modelBytes']) {
      expect(summary, `summary.json key ${key}`).toHaveProperty(key);
    }
    expect(summary['tokensPerSec']).toBeCloseTo((summary['samplesPerSec'] as number) * 16, 6);
    const metrics = readMetrics(runDir);
    expect(metrics.filter((m) => m['valLoss'] !== undefined).map((m) => m['step'])).toEqual([4, 8]);
    expect(metrics[0]).toHaveProperty('tokensPerSec');
    // The workers' last evaluation and the evaluation of model.onnx score the same windows.
    const last = metrics[metrics.length - 1]!;
    expect(Math.abs(last['valLoss']! - (summary['valLoss'] as number))).toBeLessThan(1e-4);

    const modelPath = join(runDir, 'model.onnx');
    const session = await ort.InferenceSession.create(modelPath);
    expect(session.inputNames).toEqual(['idx']);
    expect(session.outputNames).toEqual(['logits']);
    const out = await session.run({ idx: new ort.Tensor('int64', new BigInt64Array(2 * 5), [2, 5]) });
    expect(out['logits']!.dims).toEqual([2, 5, new Set(TEXT).size]);

    const generate = (seed: number) => {
      const args = ['generate', '--model', modelPath, '--prompt', 'the ', '--tokens', '40', '--seed', String(seed)];
      return execFileSync(process.execPath, [CLI_MAIN, ...args], { encoding: 'utf8' });
    };
    const first = generate(5);
    expect(first.startsWith('the ')).toBe(true);
    expect([...first.trimEnd()].length).toBe(44);
    expect(generate(5)).toBe(first);
    expect(generate(6)).not.toBe(first);
  });
});

describe('encoder classifier run directory', () => {
  it('reports the test accuracy of model.onnx', async () => {
    const config = writeConfig(scratch, 'encoder', {
      seed: 0,
      model: { kind: 'encoder', nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 32, classes: 2 },
      data: { name: 'spam', maxVocab: 512 },
      train: { batchSize: 32, steps: 6, logEvery: 3, evalEvery: 6 },
      optim: { name: 'adamw', lr: 0.001 },
      cluster: { threadsPerWorker: 1 },
    });
    const { runDir } = await launch(['--config', config, '--workers', '2'], join(scratch, 'encoder'));
    const summary = readJson(join(runDir, 'summary.json'));
    for (const key of ['testAccuracy', 'testErrors', 'testLoss', 'trainLoss', 'parameters']) {
      expect(summary, `summary.json key ${key}`).toHaveProperty(key);
    }
    const metrics = readMetrics(runDir);
    const last = metrics[metrics.length - 1]!;
    // The workers' evaluation of the test split and the evaluation of model.onnx must agree.
    expect(Math.abs(last['testAccuracy']! - (summary['testAccuracy'] as number))).toBeLessThan(1e-9);
    const session = await ort.InferenceSession.create(join(runDir, 'model.onnx'));
    expect(session.inputNames).toEqual(['idx']);
    expect(session.outputNames).toEqual(['logits']);
  });
});

describe('language-model run checks', () => {
  it('EXPECTED FAILURE - a resume on another text', async () => {
    const path = join(scratch, 'changing.txt');
    writeFileSync(path, TEXT);
    const config = writeConfig(scratch, 'changing', {
      ...TINY_GPT,
      data: { name: 'text', path },
      train: { ...TINY_GPT.train, steps: 2 },
      schedule: { ...TINY_GPT.schedule, warmupSteps: 1 },
    });
    const first = await launch(['--config', config, '--workers', '1'], join(scratch, 'changing'));
    // The same characters in reverse order keep the model's size but change the data.
    writeFileSync(path, [...TEXT].reverse().join(''));
    const resumed = startCli(['launch', '--resume', first.runDir, '--workers', '1', '--set', 'train.steps=4']);
    expect((await resumed.exited).code).toBe(2);
    expect(resumed.lines.join('\n')).toMatch(/was trained on other data than .*changing.txt .*resume with the data.path of the run/);
  });

  it('EXPECTED FAILURE - a warm-up longer than the run', async () => {
    const config = writeConfig(scratch, 'warmup', {
      ...TINY_GPT,
      train: { ...TINY_GPT.train, steps: 2 },
      schedule: { ...TINY_GPT.schedule, warmupSteps: 50 },
    });
    const runsDir = join(scratch, 'warmup-runs');
    const run = startCli(['launch', '--config', config, '--workers', '2', '--runs-dir', runsDir]);
    const { code } = await run.exited;
    expect(code).toBe(2);
    expect(run.lines.join('\n')).toMatch(/schedule.warmupSteps 50 exceeds the run's 2 steps/);
    expect(run.lines.join('\n')).not.toMatch(/starting 2 workers/);
    // The rejected run leaves no empty run directory behind.
    expect(existsSync(runsDir) ? readdirSync(runsDir) : []).toEqual([]);
  });
});
