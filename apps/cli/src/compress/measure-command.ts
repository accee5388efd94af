import { basename, dirname, resolve } from 'node:path';
import { createLogger } from '@ringtrain/logging';
import { parseCommand, positiveInt, requireString, UsageError } from '../args.js';
import { measureRow, readSourceRun } from './model-row.js';
import { weightSparsity } from './prune-magnitude.js';
import { addReportRow, checkReportTarget } from './report-file.js';
import { readModelFlag } from './compressed-model.js';

export const MEASURE_HELP = `Usage: ringtrain measure --model RUN/model.onnx --report FILE [options]

Evaluates a model.onnx on its run's held-out data, measures its latency at
batch 1 and throughput at batch 256, and adds the row to a report.json, for
example a fine-tuned model beside the models of a pipeline.

Options:
  --model FILE     the model.onnx of a run directory
  --report FILE    the report.json to add the row to (made if missing)
  --name NAME      name of the row (default: the name of the run directory)
  --config FILE    run config of the data (default: config.json beside --model)
  --threads N      onnxruntime threads of the speed measurement (default 1)
  -h, --help       show this help`;

export async function measureCommand(argv: string[]): Promise<number> {
  const values = parseCommand('measure', argv, {
    model: { type: 'string' },
    report: { type: 'string' },
    name: { type: 'string' },
    config: { type: 'string' },
    threads: { type: 'string' },
  });
  if (values['help']) {
    process.stdout.write(MEASURE_HELP + '\n');
    return 0;
  }
  const modelPath = resolve(requireString(values, 'model', 'measure'));
  const reportPath = resolve(requireString(values, 'report', 'measure'));
  const threads = values['threads'] === undefined ? 1 : positiveInt(values['threads'] as string, 'threads');

  const bytes = readModelFlag(modelPath, true);
  const source = readSourceRun(modelPath, values['config'] as string | undefined, bytes);
  if (source === undefined) throw new UsageError(`no config.json beside ${modelPath}; pass --config FILE with the run config of its data`);
  const parameters = source.summary['parameters'];
  if (parameters === undefined && source.otherModelSummary !== undefined) {
    throw new UsageError(
      `${source.otherModelSummary} beside ${modelPath} describes another model file of the run, so it has no parameter count for this one; ` +
        'add this file to a report with the --report flag of quantize, prune or grow, or measure the model.onnx of a finished run',
    );
  }
  if (parameters === undefined) throw new UsageError(`no summary.json with 'parameters' beside ${modelPath}; measure the model.onnx of a finished run`);

  const name = (values['name'] as string | undefined) ?? basename(dirname(modelPath));
  checkReportTarget(reportPath, name, threads);
  const row = await measureRow(name, bytes, source, parameters, threads, createLogger({ role: 'cli' }));
  // A run that pruned by magnitude stores its zeros, so the row also counts the live parameters.
  if (source.config.prune.sparsity > 0) row.nonzeroParameters = parameters - weightSparsity(bytes).zeros;
  const wall = source.summary['wallSeconds'];
  if (wall !== undefined) row.trainWallSeconds = wall;
  addReportRow(reportPath, row, threads);
  process.stdout.write(`added row '${name}' to ${reportPath}: ${JSON.stringify(row)}\n`);
  return 0;
}
