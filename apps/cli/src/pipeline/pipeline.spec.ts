import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@ringtrain/config';
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

describe('ringtrain pipeline', () => {
  it('trains the three models and reports each', async () => {
    const run = startCli(['pipeline', '--config', EXAMPLE, '--set', 'train.steps=30', '--runs-dir', scratch]);
    const { code } = await run.exited;
    expect(code, run.lines.slice(-20).join('\n')).toBe(0);
    const dir = /^pipeline directory (\S+)/m.exec(run.lines.join('\n'))![1]!;
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { models: Record<string, number | string>[] };
    expect(report.models.map((m) => m['name'])).toEqual(['teacher', 'student', 'student-distilled']);
    for (const model of report.models) {
      for (const key of ['parameters', 'modelBytes', 'testAccuracy', 'testErrors', 'latencyMsBatch1', 'samplesPerSecBatch256', 'trainWallSeconds']) {
        expect(model, `${String(model['name'])} ${key}`).toHaveProperty(key);
      }
    }
    expect(report.models[0]!['parameters']).toBe(784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10);
    expect(report.models[1]!['parameters']).toBe(report.models[2]!['parameters']);
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toMatch(/\| student-distilled \|/);
    expect(existsSync(join(dir, 'report.svg'))).toBe(true);
  });
});
