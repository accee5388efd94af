import { writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { deepenTransformer, widenTransformerMlp } from '@ringtrain/grow';
import { createLogger } from '@ringtrain/logging';
import { transformerInferenceModel, type TransformerModel } from '@ringtrain/models';
import { positiveInt, shellQuote, UsageError } from '../args.js';
import { measureRow, readSourceRun } from './model-row.js';
import { addReportRow } from './report-file.js';
import { compareOnRandomWindows, describeTransformer, readTransformerFile, transformerSizeFlags, withModelSizes } from './transformer-file.js';

/** Random token windows on which the grown model's logits are compared with the original's. */
const CHECK_WINDOWS = 32;

/** Options of {@link growTransformerFile}, parsed from the command line. */
export interface GrowTransformerRequest {
  values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  modelPath: string;
  out: string;
  seed: number;
  noise: number;
  threads: number;
}

/**
 * Rejects a grown model whose logits are not finite, which a large --noise causes when the noisy
 * weights overflow float32.
 *
 * @throws UsageError naming the difference and --noise
 */
export function checkGrownLogits(maxDifference: number, noise: number): void {
  if (!Number.isFinite(maxDifference)) {
    throw new UsageError(`the grown model's logits are not finite (largest difference ${maxDifference}) with --noise ${noise}; lower --noise`);
  }
}

/** Widens the block MLPs (--mlp-hidden), then inserts a block (--deepen-after), as the flags request. */
function growModel(request: GrowTransformerRequest, original: TransformerModel): TransformerModel {
  const { values, seed, noise } = request;
  const width = values['mlp-hidden'] as string | undefined;
  const after = values['deepen-after'] as string | undefined;
  if (width === undefined && after === undefined) {
    throw new UsageError(`grow: a ${original.kind} model grows with --deepen-after K, --mlp-hidden N or both`);
  }
  try {
    let model = original;
    if (width !== undefined) model = widenTransformerMlp(model, positiveInt(width, 'mlp-hidden'), { seed, noise });
    if (after !== undefined) {
      const block = Number(after);
      if (after.trim() === '' || !Number.isInteger(block)) throw new UsageError(`--deepen-after takes a block number, got '${after}'`);
      model = deepenTransformer(model, block, { seed });
    }
    return model;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`grow: ${(err as Error).message}`);
  }
}

/**
 * Writes a deeper or wider GPT or encoder that computes the same function as --model, and
 * prints the largest change of the logits over random token windows.
 */
export async function growTransformerFile(request: GrowTransformerRequest, bytes: Uint8Array): Promise<number> {
  const { values, modelPath, out, seed, threads } = request;
  const original = readTransformerFile(modelPath, bytes);
  if (values['widen'] !== undefined) {
    throw new UsageError(`--widen widens the hidden layers of an MLP, but --model ${modelPath} is a ${original.kind} model; pass --mlp-hidden N`);
  }
  const grown = growModel(request, original);
  const reportPath = values['report'] as string | undefined;
  const source = reportPath === undefined ? undefined : readSourceRun(modelPath, values['config'] as string | undefined, bytes);
  if (reportPath !== undefined && source === undefined) {
    throw new UsageError(`--report needs the run config of the model; no config.json beside ${modelPath}, so pass --config FILE`);
  }
  const grownBytes = transformerInferenceModel(grown);
  const check = await compareOnRandomWindows(bytes, grownBytes, original, CHECK_WINDOWS, seed);
  checkGrownLogits(check.maxDifference, request.noise);
  writeFileSync(out, grownBytes);

  const lines = [
    `${original.kind}: ${describeTransformer(original)} -> ${describeTransformer(grown)}, ` +
      `parameters ${original.params.length.toLocaleString('en-US')} -> ${grown.params.length.toLocaleString('en-US')}`,
    `max |grown - original| of the logits over ${check.windows} random windows of ${original.config.blockSize} tokens: ${check.maxDifference.toExponential(2)}`,
  ];
  if (reportPath !== undefined && source !== undefined) {
    const name = (values['name'] as string | undefined) ?? basename(out).replace(/\.onnx$/, '');
    const row = await measureRow(name, grownBytes, withModelSizes(source, grown), grown.params.length, threads, createLogger({ role: 'cli' }));
    addReportRow(resolve(reportPath), row, threads);
    lines.push(`added row '${row.name}' to ${resolve(reportPath)}`);
  }
  lines.push(`wrote ${out}`, `continue training with --set ${shellQuote(`init.from=${out}`)} ${transformerSizeFlags(grown)}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
