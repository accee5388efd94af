import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createLogger } from '@ringtrain/logging';
import { mlpInferenceModel, readMlpModel, type MlpModel } from '@ringtrain/models';
import { pruneUnits } from '@ringtrain/prune';
import { shellQuote, UsageError } from '../args.js';
import { measureRow, readSourceRun } from './model-row.js';
import { rowName, type PruneRequest } from './prune-request.js';
import { addReportRow } from './report-file.js';

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

/** Removes the least important hidden units of an MLP file and writes the smaller dense MLP. */
export async function pruneMlpFile(request: PruneRequest, modelBytes: Uint8Array): Promise<number> {
  const { values, modelPath, out, threads } = request;
  let original: MlpModel;
  try {
    original = readMlpModel(modelBytes);
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
  const reportPath = values['report'] as string | undefined;
  const source = reportPath === undefined ? undefined : readSourceRun(modelPath, values['config'] as string | undefined, modelBytes);
  if (reportPath !== undefined && source === undefined) {
    throw new UsageError(`--report needs the run config of the model; no config.json beside ${modelPath}, so pass --config FILE`);
  }

  const bytes = mlpInferenceModel(pruned.config, pruned.params);
  writeFileSync(out, bytes);
  const lines = [
    `hidden layers ${original.config.hidden.join('-')} -> ${pruned.config.hidden.join('-')}, ` +
      `parameters ${original.params.length.toLocaleString('en-US')} -> ${pruned.params.length.toLocaleString('en-US')}`,
  ];

  if (reportPath !== undefined && source !== undefined) {
    const config = { ...source.config, model: { ...source.config.model, hidden: pruned.config.hidden } };
    const row = await measureRow(rowName(request), bytes, { ...source, config }, pruned.params.length, threads, createLogger({ role: 'cli' }));
    addReportRow(resolve(reportPath), row, threads);
    lines.push(`test errors ${row.testErrors} before fine-tuning; added row '${row.name}' to ${resolve(reportPath)}`);
  }
  lines.push(`wrote ${out}`, `fine-tune with --set ${shellQuote(`init.from=${out}`)} --set model.hidden=${pruned.config.hidden.join(',')}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
