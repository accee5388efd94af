import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultTextCorpusPath, loadTextCorpus } from '@ringtrain/data';
import { readWeights } from '@ringtrain/graph';
import { appendTrainingParameters, gptInferenceModel, gptParameters, initParameters, parameterCount, type GptConfig } from '@ringtrain/models';
import { finalParameters, readJson, startCli, writeConfig } from './testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-hidden-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const TEXT_PATH = join(scratch, 'text.txt');
writeFileSync(TEXT_PATH, readFileSync(defaultTextCorpusPath(), 'utf8').slice(30_000, 30_600));
const VOCAB = loadTextCorpus({ path: TEXT_PATH, blockSize: 16 }).vocab;

/** A 4-block teacher twice as wide as the student, with random weights: the wiring is under test, not its quality. */
const TEACHER: GptConfig = { nLayer: 4, nHead: 2, nEmbd: 16, blockSize: 16, vocabSize: VOCAB.length };
const TEACHER_PATH = join(scratch, 'teacher.onnx');
writeFileSync(TEACHER_PATH, gptInferenceModel(TEACHER, initParameters(gptParameters(TEACHER), 2), { vocab: JSON.stringify(VOCAB) }));

const STUDENT = {
  seed: 1,
  model: { kind: 'gpt', nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 16 },
  data: { name: 'text', path: TEXT_PATH },
  train: { batchSize: 8, steps: 4, logEvery: 2, evalEvery: 0 },
  optim: { name: 'adamw', lr: 1e-3 },
  checkpoint: { everySteps: 4 },
  distill: { temperature: 2, alpha: 0.5, hiddenStudent: [0, 1], hiddenTeacher: [1, 3], hiddenWidth: 16, hiddenLoss: 'cosine' },
  cluster: { threadsPerWorker: 1 },
};

async function distill(name: string, sets: string[] = []) {
  const config = writeConfig(scratch, name, STUDENT);
  const args = ['distill', '--teacher', TEACHER_PATH, '--config', config, '--workers', '2', '--runs-dir', join(scratch, name)];
  const run = startCli([...args, ...sets.flatMap((s) => ['--set', s])]);
  const { code } = await run.exited;
  const output = run.lines.join('\n');
  return { code, output, runDir: /^run directory (\S+)$/m.exec(output)?.[1] };
}

describe('hidden-state distillation across 2 workers', () => {
  it('projections into a wider teacher', async () => {
    const { code, output, runDir } = await distill('projected');
    expect(code, output).toBe(0);
    expect(readJson(join(runDir!, 'summary.json'))['valLoss']).toBeTypeOf('number');
    const student = gptParameters({ nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 16, vocabSize: VOCAB.length });
    // The checkpoint contains the model and two 16 x 8 projections, and the projections have trained.
    const saved = finalParameters(runDir!);
    expect(saved.length).toBe(parameterCount(student) + 2 * 16 * 8);
    const init = { kind: 'uniform' as const, bound: 1 / Math.sqrt(8) };
    const projection = (k: number) => ({ name: `distill.proj${k}.weight`, shape: [16, 8], init });
    const initial = initParameters(appendTrainingParameters(student, [projection(0), projection(1)]), 1);
    const start = parameterCount(student);
    expect(saved.subarray(start).some((v, i) => v !== initial[start + i])).toBe(true);
    const exported = readWeights(readFileSync(join(runDir!, 'model.onnx')));
    expect([...exported.keys()].some((name) => name.startsWith('distill.'))).toBe(false);
    for (const spec of student) expect(exported.has(spec.name), spec.name).toBe(true);
  });

  it('resume of a run with projections', async () => {
    const first = await distill('resume', ['checkpoint.everySteps=2']);
    expect(first.code, first.output).toBe(0);
    const run = startCli(['launch', '--resume', first.runDir!, '--workers', '2', '--set', 'train.steps=6']);
    const { code } = await run.exited;
    expect(code, run.lines.slice(-20).join('\n')).toBe(0);
    expect(run.lines.join('\n')).toMatch(/resum/);
    expect(readJson(join(first.runDir!, 'summary.json'))['steps']).toBe(6);
  });

  it('same-width student from teacher blocks, mse', async () => {
    const { code, output } = await distill('same-width', [
      'model.nEmbd=16',
      'distill.hiddenWidth=0',
      'distill.hiddenLoss=mse',
      `init.from=${TEACHER_PATH}`,
    ]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/parameters initialised from a model file/);
  });

  it('EXPECTED FAILURE - a wrong hidden width', async () => {
    const { code, output } = await distill('wrong-width', ['distill.hiddenWidth=12']);
    expect(code).toBe(2);
    expect(output).not.toMatch(/starting 2 workers/);
    expect(output).toMatch(/hidden state 'h1\/resid_mlp' as float32 \[1, 16, 16\].*width 12.*Set distill.hiddenWidth/);
  });

  it('EXPECTED FAILURE - block lists of different lengths', async () => {
    const { code, output } = await distill('uneven', ['distill.hiddenTeacher=3']);
    expect(code).toBe(2);
    expect(output).toMatch(/distill.hiddenStudent lists 2 blocks and distill.hiddenTeacher 1/);
  });
});
