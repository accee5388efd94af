import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { RunConfig } from '@ringtrain/config';
import { newRunId } from '@ringtrain/coordinator';
import { parseCommand, requireString, UsageError } from '../args.js';
import { measureModel } from './measure-model.js';
import { readPipeline } from './pipeline-config.js';
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
  --teacher-run DIR    take the teacher from an earlier run directory (its model.onnx
                       and summary.json) instead of training it, e.g. to train the
                       students of another seed against the same teacher
  --threads N          onnxruntime threads of the speed measurements (default 1)
  -h, --help           show this help`;

const mainScript = resolve(import.meta.dirname, '..', 'main.js');

/** Runs `ringtrain launch` (or `distill`) as a child process, printing its lines, and returns its run directory. */
function runStage(name: string, args: string[]): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [mainScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let runDir = '';
    const onLine = (line: string) => {
      if (line.startsWith('run directory ')) runDir = line.slice('run directory '.length).trim();
      process.stderr.write(`[${name}] ${line}\n`);
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.on('exit', (code) => {
      if (code === 0 && runDir !== '') done(runDir);
      else fail(new UsageError(`the ${name} stage failed with exit code ${code}; its logs are above`));
    });
  });
}

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

/** Returns an earlier teacher run directory after checking that it has what the report reads. */
function checkTeacherRun(dir: string): string {
  for (const file of ['model.onnx', 'summary.json']) {
    if (!existsSync(join(dir, file))) {
      throw new UsageError(`--teacher-run ${dir} has no ${file}; pass the run directory of a finished teacher launch`);
    }
  }
  return dir;
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

  const teacherRun = values['teacher-run'] as string | undefined;
  const teacherDir = teacherRun === undefined
    ? await runStage('teacher', ['launch', '--config', write('teacher', stages.teacher), ...launch])
    : checkTeacherRun(resolve(teacherRun));
  const studentDir = await runStage('student', ['launch', '--config', write('student', stages.student), ...launch]);
  const teacherModel = join(teacherDir, 'model.onnx');
  const distilledDir = await runStage('student-distilled', ['distill', '--teacher', teacherModel, '--config', write('student-distilled', stages.distilled), ...launch]);

  const report: Report = {
    models: [
      await reportRow('teacher', teacherDir, stages.teacher, threads),
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
