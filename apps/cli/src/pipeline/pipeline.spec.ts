import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@ringtrain/config';
import { defaultTextCorpusPath } from '@ringtrain/data';
import { startCli } from '../testing/cluster-harness.js';
import { resolvePipeline } from './pipeline-config.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-pipeline-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const EXAMPLE = resolve(import.meta.dirname, '../../../../examples/mnist-hinton.json');

describe('resolvePipeline', () => {
  it('gives both students the same config apart from distill', () => {
    const { stages } = resolvePipeline(JSON.parse(readFileSync(EXAMPLE, 'utf8')));
    expect(stages.teacher.model.hidden).toEqual([1200, 1200]);
    expect(stages.student.model.hidden).toEqual([800, 800]);
    expect(stages.distilled).toEqual(stages.student);
    expect(stages.student.distill.teacher).toBeUndefined();
    expect(stages.student.distill.temperature).toBe(20);
  });

  it('EXPECTED FAILURE - a teacher path in distill', () => {
    expect(() => resolvePipeline({ workers: 1, distill: { teacher: 'x.onnx' } })).toThrow(ConfigError);
  });

  it('EXPECTED FAILURE - a bad key of a stage names the stage', () => {
    expect(() => resolvePipeline({ workers: 1, teacher: { model: { hiden: [3] } } })).toThrow(/teacher stage: unknown config key 'model.hiden'/);
  });
});

interface PipelineReport {
  models: Record<string, number | string>[];
}

async function pipeline(args: string[]): Promise<{ dir: string; report: PipelineReport }> {
  const run = startCli(['pipeline', '--runs-dir', scratch, ...args]);
  const { code } = await run.exited;
  expect(code, run.lines.slice(-20).join('\n')).toBe(0);
  const dir = /^pipeline directory (\S+)/m.exec(run.lines.join('\n'))![1]!;
  return { dir, report: JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as PipelineReport };
}

describe('ringtrain pipeline', () => {
  let teacherRun = '';
  let pipelineDir = '';

  it('three models at 200 steps', async () => {
    const { dir, report } = await pipeline(['--config', EXAMPLE, '--set', 'train.steps=200', '--set', 'train.evalEvery=0']);
    expect(report.models.map((m) => m['name'])).toEqual(['teacher', 'student', 'student-distilled']);
    for (const model of report.models) {
      for (const key of ['parameters', 'modelBytes', 'testAccuracy', 'testErrors', 'latencyMsBatch1', 'samplesPerSecBatch256', 'trainWallSeconds']) {
        expect(model, `${String(model['name'])} ${key}`).toHaveProperty(key);
      }
      // 200 steps are under half an epoch; every model has learned well beyond chance by then.
      expect(model['testAccuracy'], String(model['name'])).toBeGreaterThan(0.85);
    }
    expect(report.models[0]!['parameters']).toBe(784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10);
    expect(report.models[1]!['parameters']).toBe(report.models[2]!['parameters']);
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toMatch(/\| student-distilled \|/);
    expect(existsSync(join(dir, 'report.svg'))).toBe(true);
    teacherRun = readdirSync(join(dir, 'stages')).map((name) => join(dir, 'stages', name)).sort()[0]!;
    pipelineDir = dir;
  }, 300_000);

  it('one report row per later operation', async () => {
    expect(pipelineDir).not.toBe('');
    const [teacher, , distilled] = readdirSync(join(pipelineDir, 'stages')).map((name) => join(pipelineDir, 'stages', name)).sort();
    const report = join(pipelineDir, 'report.json');
    const operations = [
      ['quantize', '--model', join(distilled!, 'model.onnx'), '--out', join(scratch, 'int8.onnx'), '--name', 'student-distilled-int8'],
      ['prune', '--model', join(teacher!, 'model.onnx'), '--out', join(scratch, 'half.onnx'), '--structured', '--keep', '0.5', '--name', 'teacher-structured-50'],
      ['grow', '--model', join(distilled!, 'model.onnx'), '--out', join(scratch, 'wide.onnx'), '--widen', '900,900', '--name', 'student-distilled-wide'],
      // The same operation again replaces its row instead of adding a second one.
      ['quantize', '--model', join(distilled!, 'model.onnx'), '--out', join(scratch, 'int8.onnx'), '--name', 'student-distilled-int8'],
    ];
    for (const args of operations) {
      const run = startCli([...args, '--report', report]);
      expect((await run.exited).code, run.lines.slice(-20).join('\n')).toBe(0);
    }
    const rows = (JSON.parse(readFileSync(report, 'utf8')) as PipelineReport).models;
    expect(rows.map((m) => m['name'])).toEqual(['teacher', 'student', 'student-distilled', 'teacher-structured-50', 'student-distilled-wide', 'student-distilled-int8']);
    const markdown = readFileSync(join(pipelineDir, 'report.md'), 'utf8');
    for (const row of rows) expect(markdown).toContain(`| ${String(row['name'])} |`);
    const int8 = rows.find((m) => m['name'] === 'student-distilled-int8')!;
    expect(int8['modelBytes']).toBeLessThan(0.27 * (rows[2]!['modelBytes'] as number));
    expect(int8['parameters']).toBe(rows[2]!['parameters']);
  }, 120_000);

  it('students against an earlier teacher', async () => {
    expect(teacherRun).not.toBe('');
    const { report } = await pipeline(['--config', EXAMPLE, '--set', 'train.steps=30', '--set', 'seed=1', '--teacher-run', teacherRun]);
    const teacherSummary = JSON.parse(readFileSync(join(teacherRun, 'summary.json'), 'utf8')) as Record<string, number>;
    expect(report.models[0]!['testErrors']).toBe(teacherSummary['testErrors']);
    expect(report.models.map((m) => m['name'])).toEqual(['teacher', 'student', 'student-distilled']);
  });

  it('EXPECTED FAILURE - a teacher run without a model', async () => {
    const run = startCli(['pipeline', '--runs-dir', scratch, '--config', EXAMPLE, '--teacher-run', scratch]);
    const { code } = await run.exited;
    expect(code).toBe(2);
    expect(run.lines.join('\n')).toMatch(/--teacher-run .* has no model.onnx; pass the run directory of a finished teacher launch/);
  });

  it('GPT models with validation loss', async () => {
    const text = join(scratch, 'text.txt');
    writeFileSync(text, readFileSync(defaultTextCorpusPath(), 'utf8').slice(0, 3000));
    const config = join(scratch, 'gpt-pipeline.json');
    writeFileSync(config, JSON.stringify({
      workers: 2,
      base: {
        model: { kind: 'gpt', nHead: 2, blockSize: 16 },
        data: { name: 'text', path: text },
        train: { batchSize: 8, steps: 12, logEvery: 6 },
        optim: { name: 'adamw', lr: 3e-3 },
        cluster: { threadsPerWorker: 1 },
      },
      teacher: { model: { nLayer: 2, nEmbd: 32 } },
      student: { model: { nLayer: 1, nEmbd: 16 } },
      distill: { temperature: 2, alpha: 0.5 },
    }));
    // An MNIST teacher run cannot serve GPT students, and the pipeline rejects it before it trains.
    const mismatch = startCli(['pipeline', '--runs-dir', scratch, '--config', config, '--teacher-run', teacherRun]);
    expect((await mismatch.exited).code).toBe(2);
    expect(mismatch.lines.join('\n')).toMatch(/trained a mlp model, but the pipeline's students are gpt models/);
    expect(mismatch.lines.join('\n')).not.toMatch(/\[student\]/);

    const { report } = await pipeline(['--config', config]);
    for (const model of report.models) {
      for (const key of ['valLoss', 'tokensPerSec', 'latencyMsBatch1', 'parameters', 'modelBytes']) {
        expect(model, `${String(model['name'])} ${key}`).toHaveProperty(key);
      }
      expect(model).not.toHaveProperty('testErrors');
    }
    expect(report.models[0]!['parameters']).toBeGreaterThan(report.models[1]!['parameters'] as number);
  });
});
