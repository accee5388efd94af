import { writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadMnist } from '@ringtrain/data';
import { deepenMlp, widenMlp } from '@ringtrain/grow';
import { createLogger } from '@ringtrain/logging';
import { mlpInferenceModel, readMlpModel, type MlpModel } from '@ringtrain/models';
import { parseCommand, positiveInt, requireString, shellQuote, UsageError } from '../args.js';
import { measureRow, readSourceRun } from './model-row.js';
import { readModelFlag } from './compressed-model.js';
import { checkGrownLogits, growTransformerFile } from './grow-transformer.js';
import { checkOutputPath } from './output-path.js';
import { addReportRow, checkReportTarget } from './report-file.js';
import { modelKindOf } from './transformer-file.js';

export const GROW_HELP = `Usage: ringtrain grow --model FILE --out FILE (--widen W1,W2,... | --deepen-after K | --mlp-hidden N) [options]

Writes a larger model that computes the same function as --model (Net2Net), so
that training can continue from it with the --set flags that the command prints.
--widen gives every hidden layer of an MLP its new width, and --mlp-hidden gives
the MLP of every GPT or encoder block its new width: new units copy units of
the layer, their outgoing weights are shared between the copies, and zero-sum
noise on the copies breaks their symmetry. --deepen-after K inserts an identity
layer after hidden layer K of an MLP, or after block K of a GPT or encoder a
block whose output projections (c_proj of attention and MLP) are 0. The command
compares the outputs of both models, on the test images for an MLP and on random
token windows for a transformer, and prints the largest difference. A
transformer may take --mlp-hidden and --deepen-after together.

Options:
  --model FILE         a model.onnx that ringtrain exported (MLP, GPT or encoder)
  --out FILE           where to write the grown model
  --widen W1,W2,...    new width of each hidden layer (MLP, at least the current one)
  --mlp-hidden N       new MLP width of every block (GPT, encoder, at least the current one)
  --deepen-after K     add an identity layer after hidden layer K, or a block after block K (0-based)
  --seed S             seed of the copied units, the noise and a new block's tensors (default 0)
  --noise X            noise std relative to each layer's weight std (default 0.01)
  --config FILE        run config of the test data (default: config.json beside --model)
  --report FILE        add a row for the grown model to this report.json
  --name NAME          name of that row (default: the --out file name without .onnx)
  --threads N          onnxruntime threads of the speed measurement (default 1)
  -h, --help           show this help`;

/** Returns the largest absolute difference between the logits of two models on the same images. */
async function maxLogitDifference(a: Uint8Array, b: Uint8Array, images: Float32Array, features: number): Promise<number> {
  const input = new ort.Tensor('float32', images, [images.length / features, features]);
  const run = async (bytes: Uint8Array) => {
    const session = await ort.InferenceSession.create(bytes);
    const out = (await session.run({ input }))['logits']!.data as Float32Array;
    await session.release();
    return out;
  };
  const [x, y] = [await run(a), await run(b)];
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
}

/** Parses a numeric flag, or returns NaN for blank text, which Number() alone would read as 0. */
function numberFlag(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}

/** Parses --deepen-after of an MLP. */
function parseLayer(text: string): number {
  const layer = numberFlag(text);
  if (!Number.isInteger(layer)) throw new UsageError(`--deepen-after takes a hidden layer number (0, 1, ...), got '${text}'`);
  return layer;
}

function parseWidths(text: string): number[] {
  const widths = text.split(',').map(Number);
  if (widths.some((w) => !Number.isInteger(w) || w < 1)) throw new UsageError(`--widen takes positive integers separated by commas, got '${text}'`);
  return widths;
}

export async function growCommand(argv: string[]): Promise<number> {
  const values = parseCommand('grow', argv, {
    model: { type: 'string' },
    out: { type: 'string' },
    widen: { type: 'string' },
    'mlp-hidden': { type: 'string' },
    'deepen-after': { type: 'string' },
    seed: { type: 'string' },
    noise: { type: 'string' },
    config: { type: 'string' },
    report: { type: 'string' },
    name: { type: 'string' },
    threads: { type: 'string' },
  });
  if (values['help']) {
    process.stdout.write(GROW_HELP + '\n');
    return 0;
  }
  const modelPath = resolve(requireString(values, 'model', 'grow'));
  const out = resolve(requireString(values, 'out', 'grow'));
  checkOutputPath(out, modelPath);
  const widen = values['widen'] as string | undefined;
  const deepen = values['deepen-after'] as string | undefined;
  const seed = values['seed'] === undefined ? 0 : numberFlag(values['seed'] as string);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new UsageError(`--seed must be an integer in [0, 2^32), got '${String(values['seed'])}'`);
  const noise = values['noise'] === undefined ? 0.01 : numberFlag(values['noise'] as string);
  if (!(noise >= 0 && Number.isFinite(noise))) throw new UsageError(`--noise must be a finite number >= 0, got '${String(values['noise'])}'`);
  const threads = values['threads'] === undefined ? 1 : positiveInt(values['threads'] as string, 'threads');
  const name = (values['name'] as string | undefined) ?? basename(out).replace(/\.onnx$/, '');
  if (values['report'] !== undefined) checkReportTarget(resolve(values['report'] as string), name, threads);

  const bytes = readModelFlag(modelPath);
  const kind = modelKindOf(modelPath, bytes);
  if (kind === 'gpt' || kind === 'encoder') return growTransformerFile({ values, modelPath, out, seed, noise, threads }, bytes);
  if (values['mlp-hidden'] !== undefined) {
    throw new UsageError(`--mlp-hidden widens the blocks of a gpt or encoder, but --model ${modelPath} has no such modelKind in its metadata; for an MLP pass --widen W1,W2,...`);
  }
  if ((widen === undefined) === (deepen === undefined)) throw new UsageError('grow: give exactly one of --widen and --deepen-after');
  let original: MlpModel;
  try {
    original = readMlpModel(bytes);
  } catch (err) {
    throw new UsageError(`cannot read --model ${modelPath} as an MLP: ${(err as Error).message}`);
  }
  let grown: MlpModel;
  try {
    grown = widen !== undefined ? widenMlp(original, parseWidths(widen), { seed, noise }) : deepenMlp(original, parseLayer(deepen!));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`grow: ${(err as Error).message}`);
  }
  const grownBytes = mlpInferenceModel(grown.config, grown.params);
  const source = readSourceRun(modelPath, values['config'] as string | undefined, bytes);
  const reportPath = values['report'] as string | undefined;
  if (reportPath !== undefined && source === undefined) {
    throw new UsageError(`--report needs the run config of the model; no config.json beside ${modelPath}, so pass --config FILE`);
  }
  const test = loadMnist({ dir: source?.config.data.path, split: 'test' });
  const images = Float32Array.from(test.images, (v) => v / 255);
  const difference = await maxLogitDifference(bytes, grownBytes, images, original.config.inputSize);
  checkGrownLogits(difference, noise);
  writeFileSync(out, grownBytes);

  const lines = [
    `hidden layers ${original.config.hidden.join('-')} -> ${grown.config.hidden.join('-')}`,
    `max |grown - original| of the logits over ${test.count.toLocaleString('en-US')} test images: ${difference.toExponential(2)}`,
  ];
  if (reportPath !== undefined && source !== undefined) {
    const logger = createLogger({ role: 'cli' });
    const config = { ...source.config, model: { ...source.config.model, hidden: grown.config.hidden } };
    const row = await measureRow(name, grownBytes, { ...source, config }, grown.params.length, threads, logger);
    addReportRow(resolve(reportPath), row, threads);
    lines.push(`added row '${row.name}' to ${resolve(reportPath)}`);
  }
  lines.push(`wrote ${out}`, `continue training with --set ${shellQuote(`init.from=${out}`)} --set model.hidden=${grown.config.hidden.join(',')}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
