import { readFileSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { createLogger } from '@ringtrain/logging';
import { mlpInferenceModel, readMlpModel, type MlpModel } from '@ringtrain/models';
import { pruneUnits } from '@ringtrain/prune';
import { parseCommand, positiveInt, requireString, UsageError } from '../args.js';
import { measureRow, readSourceRun } from './model-row.js';
import { addReportRow } from './report-file.js';

export const PRUNE_HELP = `Usage: ringtrain prune --model FILE --out FILE --structured (--keep F | --widths W1,W2,...) [options]

Writes a smaller dense MLP without the least important hidden units: a unit's
importance is the norm of its incoming weights times the norm of its outgoing
weights. The smaller model runs faster as it is, and usually needs some
fine-tuning: launch with --set init.from=OUT and the new model.hidden.

Options:
  --model FILE       an MLP model.onnx that ringtrain exported
  --out FILE         where to write the pruned model
  --structured       remove whole hidden units (the only kind of pruning this command does)
  --keep F           share of the units each hidden layer keeps, in (0, 1]
  --widths W1,...    units each hidden layer keeps, in place of --keep
  --config FILE      run config of the test data (default: config.json beside --model)
  --report FILE      add a row for the pruned model to this report.json
  --name NAME        name of that row (default: the --out file name without .onnx)
  --threads N        onnxruntime threads of the speed measurement (default 1)
  -h, --help         show this help`;

function keptWidths(model: MlpModel, keep: unknown, widths: unknown): number[] {
  if ((keep === undefined) === (widths === undefined)) throw new UsageError('prune: give exactly one of --keep and --widths');
  if (typeof widths === 'string') {
    const list = widths.split(',').map(Number);
    if (list.some((w) => !Number.isInteger(w) || w < 1)) throw new UsageError(`--widths takes positive integers separated by commas, got '${widths}'`);
    return list;
  }
  const share = Number(keep);
  if (!(share > 0 && share <= 1)) throw new UsageError(`--keep must be a share in (0, 1], got '${String(keep)}'`);
  return model.config.hidden.map((h) => Math.max(1, Math.round(h * share)));
}

export async function pruneCommand(argv: string[]): Promise<number> {
  const values = parseCommand('prune', argv, {
    model: { type: 'string' },
    out: { type: 'string' },
    structured: { type: 'boolean' },
    keep: { type: 'string' },
    widths: { type: 'string' },
    config: { type: 'string' },
    report: { type: 'string' },
    name: { type: 'string' },
    threads: { type: 'string' },
  });
  if (values['help']) {
    process.stdout.write(PRUNE_HELP + '\n');
    return 0;
  }
  const modelPath = resolve(requireString(values, 'model', 'prune'));
  const out = resolve(requireString(values, 'out', 'prune'));
  if (values['structured'] !== true) {
    throw new UsageError('prune: pass --structured; magnitude pruning with fine-tuning in the cluster is not available in this command');
  }
  const threads = values['threads'] === undefined ? 1 : positiveInt(values['threads'] as string, 'threads');

  let original: MlpModel;
  try {
    original = readMlpModel(readFileSync(modelPath));
  } catch (err) {
    throw new UsageError(`cannot read --model ${modelPath} as an MLP: ${(err as Error).message}`);
  }
  let pruned: ReturnType<typeof pruneUnits>;
  try {
    pruned = pruneUnits(original, keptWidths(original, values['keep'], values['widths']));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`prune: ${(err as Error).message}`);
  }

  const bytes = mlpInferenceModel(pruned.config, pruned.params);
  writeFileSync(out, bytes);
  const lines = [
    `hidden layers ${original.config.hidden.join('-')} -> ${pruned.config.hidden.join('-')}, ` +
      `parameters ${original.params.length.toLocaleString('en-US')} -> ${pruned.params.length.toLocaleString('en-US')}`,
  ];

  const source = readSourceRun(modelPath, values['config'] as string | undefined);
  const reportPath = values['report'] as string | undefined;
  if (reportPath !== undefined) {
    if (source === undefined) throw new UsageError(`--report needs the run config of the model; no config.json beside ${modelPath}, so pass --config FILE`);
    const config = { ...source.config, model: { ...source.config.model, hidden: pruned.config.hidden } };
    const row = await measureRow((values['name'] as string | undefined) ?? basename(out).replace(/\.onnx$/, ''), bytes, { ...source, config }, pruned.params.length, threads, createLogger({ role: 'cli' }));
    addReportRow(resolve(reportPath), row, threads);
    lines.push(`test errors ${row.testErrors} before fine-tuning; added row '${row.name}' to ${resolve(reportPath)}`);
  }
  lines.push(`wrote ${out}`, `fine-tune with --set init.from=${out} --set model.hidden=${pruned.config.hidden.join(',')}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
