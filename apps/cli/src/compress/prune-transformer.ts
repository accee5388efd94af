import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createLogger } from '@ringtrain/logging';
import { mlpWidth, transformerInferenceModel, type TransformerModel } from '@ringtrain/models';
import { blocksWithout, dropBlocks, pruneBlockUnits, pruneHeads } from '@ringtrain/prune';
import { positiveInt, shellQuote, UsageError } from '../args.js';
import { measureRow, readSourceRun } from './model-row.js';
import { rowName, type PruneRequest } from './prune-request.js';
import { addReportRow } from './report-file.js';
import { describeTransformer, readTransformerFile, transformerSizeFlags, withModelSizes } from './transformer-file.js';

/** Parses a comma-separated list of block numbers, such as `0,2`. */
function parseBlocks(text: string, flag: string): number[] {
  const blocks = text.split(',').map((s) => Number(s.trim()));
  if (text.trim() === '' || blocks.some((b) => !Number.isInteger(b) || b < 0)) {
    throw new UsageError(`--${flag} takes block numbers (0, 1, ...) separated by commas, got '${text}'`);
  }
  return blocks;
}

/** Returns the blocks that --keep-blocks or --drop-blocks leave, or undefined when neither is given. */
function keptBlocks(values: PruneRequest['values'], nLayer: number): number[] | undefined {
  const keep = values['keep-blocks'] as string | undefined;
  const drop = values['drop-blocks'] as string | undefined;
  if (keep !== undefined && drop !== undefined) throw new UsageError('prune: give at most one of --keep-blocks and --drop-blocks');
  if (drop !== undefined) return blocksWithout(nLayer, parseBlocks(drop, 'drop-blocks'));
  return keep === undefined ? undefined : parseBlocks(keep, 'keep-blocks');
}

/** Returns the MLP width that --mlp-keep or --mlp-hidden requests, or undefined when neither is given. */
function keptMlpWidth(values: PruneRequest['values'], model: TransformerModel): number | undefined {
  const share = values['mlp-keep'] as string | undefined;
  const hidden = values['mlp-hidden'] as string | undefined;
  if (share !== undefined && hidden !== undefined) throw new UsageError('prune: give at most one of --mlp-keep and --mlp-hidden');
  if (hidden !== undefined) return positiveInt(hidden, 'mlp-hidden');
  if (share === undefined) return undefined;
  const fraction = Number(share);
  if (!(fraction > 0 && fraction <= 1)) throw new UsageError(`--mlp-keep must be a share in (0, 1], got '${share}'`);
  return Math.max(1, Math.round(mlpWidth(model.config) * fraction));
}

/** Checks the flags that only apply to MLPs, or only with --structured, against a transformer file. */
function checkTransformerFlags(request: PruneRequest, kind: string): void {
  const { values, modelPath } = request;
  for (const flag of ['keep', 'widths']) {
    if (values[flag] !== undefined) {
      throw new UsageError(
        `--${flag} prunes the hidden layers of an MLP, but --model ${modelPath} is a ${kind} model; pass --heads K, --mlp-keep F or --mlp-hidden N`,
      );
    }
  }
  const inside = ['heads', 'mlp-keep', 'mlp-hidden'].some((flag) => values[flag] !== undefined);
  if (values['structured'] === true && !inside) {
    throw new UsageError(`prune: --structured on a ${kind} model needs --heads K, --mlp-keep F or --mlp-hidden N`);
  }
}

/** Applies block dropping, then head pruning, then MLP unit pruning, as the flags request. */
function pruneModel(request: PruneRequest, original: TransformerModel): { model: TransformerModel; blocks?: number[]; heads?: number[][] } {
  const { values } = request;
  let model = original;
  let blocks: number[] | undefined;
  let heads: number[][] | undefined;
  try {
    blocks = keptBlocks(values, original.config.nLayer);
    const width = keptMlpWidth(values, original);
    if (blocks !== undefined) model = dropBlocks(model, blocks);
    if (values['heads'] !== undefined) ({ model, kept: heads } = pruneHeads(model, positiveInt(values['heads'] as string, 'heads')));
    if (width !== undefined) model = pruneBlockUnits(model, width).model;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`prune: ${(err as Error).message}`);
  }
  return { model, ...(blocks === undefined ? {} : { blocks }), ...(heads === undefined ? {} : { heads }) };
}

/**
 * Prints how to distil the pruned model from the original. A GPT student also matches the
 * hidden state of each kept block with that of its source block.
 */
function distillHint(request: PruneRequest, pruned: TransformerModel, blocks: readonly number[]): string {
  const { values, modelPath, out } = request;
  const configPath = (values['config'] as string | undefined) ?? join(dirname(modelPath), 'config.json');
  const config = existsSync(configPath) ? shellQuote(configPath) : 'RUN_CONFIG';
  const hidden = pruned.kind === 'gpt'
    ? ` --set distill.hiddenStudent=${blocks.map((_, i) => i).join(',')} --set distill.hiddenTeacher=${blocks.join(',')}`
    : '';
  return `or distil it from the original with ringtrain distill --teacher ${shellQuote(modelPath)} --config ${config} --workers N --set ${shellQuote(`init.from=${out}`)} ${transformerSizeFlags(pruned)}${hidden}`;
}

/**
 * Removes blocks, attention heads or MLP units of a GPT or encoder file and writes the smaller
 * dense model, with the flags that continue training from it.
 */
export async function pruneTransformerFile(request: PruneRequest, bytes: Uint8Array): Promise<number> {
  const { values, modelPath, out, threads } = request;
  const original = readTransformerFile(modelPath, bytes);
  checkTransformerFlags(request, original.kind);
  const { model: pruned, blocks, heads } = pruneModel(request, original);
  const reportPath = values['report'] as string | undefined;
  const source = reportPath === undefined ? undefined : readSourceRun(modelPath, values['config'] as string | undefined, bytes);
  if (reportPath !== undefined && source === undefined) {
    throw new UsageError(`--report needs the run config of the model; no config.json beside ${modelPath}, so pass --config FILE`);
  }
  const prunedBytes = transformerInferenceModel(pruned);
  writeFileSync(out, prunedBytes);

  const lines = [
    `${original.kind}: ${describeTransformer(original)} -> ${describeTransformer(pruned)}, ` +
      `parameters ${original.params.length.toLocaleString('en-US')} -> ${pruned.params.length.toLocaleString('en-US')}`,
  ];
  if (blocks !== undefined) lines.push(`kept blocks ${blocks.join(',')} of ${original.config.nLayer}, renumbered from 0`);
  if (heads !== undefined) lines.push(`kept heads per block: ${heads.map((h, l) => `h${l} ${h.join(',')}`).join('; ')}`);
  if (reportPath !== undefined && source !== undefined) {
    const row = await measureRow(rowName(request), prunedBytes, withModelSizes(source, pruned), pruned.params.length, threads, createLogger({ role: 'cli' }));
    addReportRow(resolve(reportPath), row, threads);
    const metric = row.testErrors !== undefined ? `test errors ${row.testErrors}` : `validation loss ${row.valLoss?.toFixed(4)}`;
    lines.push(`${metric} before fine-tuning; added row '${row.name}' to ${resolve(reportPath)}`);
  }
  lines.push(`wrote ${out}`, `fine-tune with --set ${shellQuote(`init.from=${out}`)} ${transformerSizeFlags(pruned)}`);
  if (blocks !== undefined) lines.push(distillHint(request, pruned, blocks));
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
