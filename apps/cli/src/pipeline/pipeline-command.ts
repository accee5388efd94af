import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunConfig } from '@ringtrain/config';
import { newRunId } from '@ringtrain/coordinator';
import { parseCommand, requireString, UsageError } from '../args.js';
import { measureModel } from './measure-model.js';
import { readPipeline } from './pipeline-config.js';
import { runStage } from './run-stage.js';
import { reportMarkdown, reportSvg, type Report, type ReportRow } from './report.js';

export const PIPELINE_HELP = `Usage: ringtrain pipeline --config FILE [options]

Trains a teacher, the student alone and the same student distilled from the
teacher, each as a launch on this machine, then measures every exported
model.onnx and writes report.json, report.md and report.svg (errors or
validation loss against size) into the pipeline's run directory.

Options:
  --config FILE        pipeline config: {"workers", "base", "teacher", "student", "distill"}
                       (see examples/mnist-hinton.json)
  --runs-dir DIR       parent folder of the pipeline's directory (default: runs)
  --set KEY=VALUE      override a run config key in every stage (repeatable)
  --teacher-run DIR    take the teacher from an earlier run directory (its model.onnx,
                       summary.json and config.json) instead of training it, e.g. to
                       train the students of another seed against the same teacher
  --threads N          onnxruntime threads of the speed measurements (default 1)
  -h, --help           show this help`;

async function reportRow(name: string, runDir: string, config: RunConfig, threads: number): Promise<ReportRow> {
  const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as Record<string, number>;
  const bytes = readFileSync(join(runDir, 'model.onnx'));
  const speed = await measureModel(bytes, { threads, blockSize: config.model.blockSize });
  const row: ReportRow = {
    name,
    parameters: summary['parameters']!,
    modelBytes: bytes.length,
    latencyMsBatch1: speed.latencyMsBatch1,
    samplesPerSecBatch256: speed.samplesPerSecBatch256,
    trainWallSeconds: summary['wallSeconds']!,
  };
  for (const key of ['testAccuracy', 'testErrors', 'valLoss'] as const) if (summary[key] !== undefined) row[key] = summary[key];
  if (speed.tokensPerSec !== undefined) row.tokensPerSec = speed.tokensPerSec;
  return row;
}

/** An earlier teacher run that a pipeline reuses: its directory and the config it trained with. */
interface TeacherRun {
  dir: string;
  config: RunConfig;
}

/**
 * Checks an earlier teacher run before any stage trains: it must contain model.onnx, a summary
 * with the report's figures and a config of the students' model kind.
 *
 * @throws UsageError naming the directory and what it lacks
 */
function readTeacherRun(dir: string, students: RunConfig): TeacherRun {
  const where = `--teacher-run ${dir}`;
  if (!existsSync(join(dir, 'model.onnx'))) throw new UsageError(`${where} has no model.onnx; pass the run directory of a finished teacher launch`);
  const readJson = (file: string): Record<string, unknown> => {
    try {
      return JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(`${where}: cannot read ${file}: ${(err as Error).message}; pass the run directory of a finished teacher launch`);
    }
  };
  const summary = readJson('summary.json');
  for (const key of ['parameters', 'wallSeconds']) {
    if (typeof summary[key] !== 'number') throw new UsageError(`${where}: summary.json has no number '${key}'; the teacher launch did not finish`);
  }
  const config = readJson('config.json') as unknown as RunConfig;
  if (config.model?.kind !== students.model.kind) {
    throw new UsageError(`${where} trained a ${String(config.model?.kind)} model, but the pipeline's students are ${students.model.kind} models`);
  }
  return { dir, config };
}

export async function pipelineCommand(argv: string[]): Promise<number> {
  const values = parseCommand('pipeline', argv, {
    config: { type: 'string' },
    'runs-dir': { type: 'string' },
    set: { type: 'string', multiple: true },
    threads: { type: 'string' },
    'teacher-run': { type: 'string' },
  });
  if (values['help']) {
    process.stdout.write(PIPELINE_HELP + '\n');
    return 0;
  }
  const configPath = requireString(values, 'config', 'pipeline');
  const overrides = (values['set'] as string[] | undefined) ?? [];
  const threads = Number(values['threads'] ?? 1);
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`--threads must be a positive integer, got '${String(values['threads'])}'`);
  const { pipeline, stages } = readPipeline(configPath, overrides);
  const teacherRunDir = values['teacher-run'] as string | undefined;
  if (teacherRunDir === '') throw new UsageError('--teacher-run needs a run directory');
  const reused = teacherRunDir === undefined ? undefined : readTeacherRun(resolve(teacherRunDir), stages.student);

  const dir = join(resolve((values['runs-dir'] as string | undefined) ?? 'runs'), `pipeline-${newRunId()}`);
  const stagesDir = join(dir, 'stages');
  mkdirSync(stagesDir, { recursive: true });
  const write = (name: string, config: RunConfig) => {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify(config, null, 2) + '\n');
    return path;
  };
  const launch = ['--workers', String(pipeline.workers), '--runs-dir', stagesDir];
  process.stderr.write(`pipeline directory ${dir}\n`);

  const teacherDir = reused?.dir ?? (await runStage('teacher', ['launch', '--config', write('teacher', stages.teacher), ...launch]));
  const teacherConfig = reused?.config ?? stages.teacher;
  const studentDir = await runStage('student', ['launch', '--config', write('student', stages.student), ...launch]);
  const teacherModel = join(teacherDir, 'model.onnx');
  const distilledDir = await runStage('student-distilled', ['distill', '--teacher', teacherModel, '--config', write('student-distilled', stages.distilled), ...launch]);

  const report: Report = {
    models: [
      await reportRow('teacher', teacherDir, teacherConfig, threads),
      await reportRow('student', studentDir, stages.student, threads),
      await reportRow('student-distilled', distilledDir, stages.distilled, threads),
    ],
    threads,
  };
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  const markdown = reportMarkdown(report);
  writeFileSync(join(dir, 'report.md'), markdown);
  writeFileSync(join(dir, 'report.svg'), reportSvg(report));
  process.stdout.write(markdown + `pipeline directory ${dir}\n`);
  return 0;
}
