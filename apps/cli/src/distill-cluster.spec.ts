import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initParameters, mlpInferenceModel, mlpParameters, type MlpConfig } from '@ringtrain/models';
import { readJson, startCli, writeConfig } from './testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-distill-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const STUDENT = {
  seed: 1,
  model: { kind: 'mlp', hidden: [32] },
  train: { batchSize: 64, steps: 4, logEvery: 2 },
  optim: { name: 'sgd', lr: 0.05 },
  distill: { temperature: 4, alpha: 0.9 },
  cluster: { threadsPerWorker: 1 },
};

function teacherFile(name: string, cfg: MlpConfig): string {
  const path = join(scratch, name);
  writeFileSync(path, mlpInferenceModel(cfg, initParameters(mlpParameters(cfg), 3)));
  return path;
}

async function distill(teacher: string, runs: string, extra: string[] = []) {
  const config = writeConfig(scratch, 'student', STUDENT);
  const run = startCli(['distill', '--teacher', teacher, '--config', config, '--workers', '2', '--runs-dir', runs, ...extra]);
  const { code } = await run.exited;
  return { code, output: run.lines.join('\n') };
}

describe('ringtrain distill', () => {
  it('trains a student on a teacher across 2 workers', async () => {
    const teacher = teacherFile('teacher.onnx', { inputSize: 784, hidden: [64], classes: 10 });
    const { code, output } = await distill(teacher, join(scratch, 'ok'));
    expect(code, output).toBe(0);
    const runDir = /run directory (\S+)/.exec(output.split('\n').reverse().join('\n'))![1]!;
    // Workers fetch the teacher from the run directory, so the copy is byte for byte the file.
    expect(readFileSync(join(runDir, 'teacher.onnx')).equals(readFileSync(teacher))).toBe(true);
    expect(readJson(join(runDir, 'config.json'))['distill']).toMatchObject({ teacher, temperature: 4, alpha: 0.9 });
    expect(readJson(join(runDir, 'summary.json'))['testAccuracy']).toBeTypeOf('number');
  });

  it('takes teachers exported by PyTorch as they are', async () => {
    const fixtures = resolve(import.meta.dirname, 'testing/fixtures');
    const mlp = await distill(join(fixtures, 'torch-mlp-teacher.onnx'), join(scratch, 'torch-mlp'));
    expect(mlp.code, mlp.output).toBe(0);
    const cnn = await distill(join(fixtures, 'torch-cnn-teacher.onnx'), join(scratch, 'torch-cnn'), ['--set', 'distill.teacherShape=1,28,28']);
    expect(cnn.code, cnn.output).toBe(0);
  });

  it('EXPECTED FAILURE - a teacher over other classes', async () => {
    const { code, output } = await distill(teacherFile('wide.onnx', { inputSize: 784, hidden: [8], classes: 12 }), join(scratch, 'wide'));
    // The launcher checks the teacher itself, so no worker starts.
    expect(code).toBe(2);
    expect(output).not.toMatch(/starting 2 workers/);
    expect(output).toMatch(/teacher .*wide.onnx returned 'logits' float32 \[1, 12\] for 1 samples; the student expects float32 logits over 10 classes/);
  });

  it('EXPECTED FAILURE - two teachers', async () => {
    const teacher = teacherFile('one.onnx', { inputSize: 784, hidden: [8], classes: 10 });
    const other = teacherFile('other.onnx', { inputSize: 784, hidden: [8], classes: 10 });
    const cases: [string[], RegExp][] = [
      [['--teacher', other], /give --teacher once; got .*one.onnx and .*other.onnx/],
      [['--teacher=' + other], /give --teacher once; got .*one.onnx and .*other.onnx/],
      [['--set', `distill.teacher=${other}`], /--teacher .*one.onnx and --set distill.teacher=.*other.onnx both name a teacher; give one of them/],
    ];
    for (const [extra, message] of cases) {
      const { code, output } = await distill(teacher, join(scratch, 'two'), extra);
      expect(code, output).toBe(2);
      expect(output).toMatch(message);
      expect(output).not.toMatch(/starting 2 workers/);
    }
  });

  it('EXPECTED FAILURE - a teacher file that is missing', async () => {
    const { code, output } = await distill(join(scratch, 'absent.onnx'), join(scratch, 'absent'));
    expect(code).toBe(2);
    expect(output).toMatch(/cannot read distill.teacher .*absent.onnx/);
  });
});
