import { resolve } from 'node:path';
import { parseCommand, positiveInt, requireString, UsageError } from '../args.js';
import { readModelFlag } from './compressed-model.js';
import { checkOutputPath } from './output-path.js';
import { magnitudePruneFile } from './prune-magnitude.js';
import { pruneMlpFile } from './prune-mlp.js';
import { rowName, type PruneRequest } from './prune-request.js';
import { checkReportTarget } from './report-file.js';
import { pruneTransformerFile } from './prune-transformer.js';
import { modelKindOf } from './transformer-file.js';

export const PRUNE_HELP = `Usage: ringtrain prune --model FILE --out FILE (--structured ... | --keep-blocks L | --sparsity S ...) [options]

Structured pruning writes a smaller dense model at once; it usually needs some
fine-tuning, with the --set flags that the command prints. A unit's or head's
importance is the norm of its incoming weights times the norm of its outgoing
weights.
  MLP:          --structured (--keep F | --widths W1,W2,...) removes hidden units.
  GPT, encoder: --structured --heads K keeps the K most important attention
                heads of every block (their query, key and value rows of c_attn
                against their columns of c_proj); --mlp-keep F or --mlp-hidden N
                keeps MLP units of every block; --keep-blocks L or --drop-blocks L
                removes whole blocks and renumbers the rest. These combine.
Magnitude pruning (--sparsity S, MLP runs) fine-tunes in the cluster: it runs
ringtrain launch with the run's config.json, init.from=--model and prune.*,
so that the smallest weights reach share S of 0 on the gradual schedule, and
copies the new run's model.onnx to --out.

Options:
  --model FILE         a model.onnx that ringtrain exported
  --out FILE           where to write the pruned model
  --structured         remove whole hidden units or attention heads
  --keep F             share of the units each hidden layer keeps, in (0, 1] (MLP)
  --widths W1,...      units each hidden layer keeps, in place of --keep (MLP)
  --heads K            attention heads each block keeps (GPT, encoder)
  --mlp-keep F         share of the MLP units each block keeps, in (0, 1] (GPT, encoder)
  --mlp-hidden N       MLP units each block keeps, in place of --mlp-keep (GPT, encoder)
  --keep-blocks L      blocks to keep, e.g. 0,2 (GPT, encoder)
  --drop-blocks L      blocks to remove, in place of --keep-blocks (GPT, encoder)
  --sparsity S         share of weights to set to 0 while fine-tuning, in (0, 0.99]
  --scope SCOPE        global (one threshold over all matrices, the default) or layer
  --workers N          workers of the fine-tuning launch (with --sparsity)
  --epochs E           fine-tuning epochs (default: the run config's length)
  --steps S            fine-tuning steps, in place of --epochs
  --set KEY=VALUE      override a key of the fine-tuning config (repeatable)
  --runs-dir DIR       parent folder of the fine-tuning run (default: runs)
  --config FILE        run config of the model (default: config.json beside --model)
  --report FILE        add a row for the pruned model to this report.json
  --name NAME          name of that row (default: the --out file name without .onnx)
  --threads N          onnxruntime threads of the speed measurement (default 1)
  -h, --help           show this help`;

/** Flags that remove units or heads inside the layers, and so need --structured. */
const STRUCTURED_FLAGS = ['keep', 'widths', 'heads', 'mlp-keep', 'mlp-hidden'];
/** Flags that apply to GPT and encoder files only. */
const TRANSFORMER_FLAGS = ['heads', 'mlp-keep', 'mlp-hidden', 'keep-blocks', 'drop-blocks'];
/** Flags of the fine-tuning launch, which only --sparsity runs. */
const FINE_TUNE_FLAGS = ['scope', 'workers', 'epochs', 'steps', 'set', 'runs-dir'];

/** Checks that the flags choose one kind of pruning, and returns it. */
function pruneMode(values: PruneRequest['values']): 'magnitude' | 'structure' {
  const givenFlags = (flags: readonly string[]) => flags.filter((flag) => values[flag] !== undefined);
  if (values['sparsity'] !== undefined) {
    const other = givenFlags(['structured', ...STRUCTURED_FLAGS, 'keep-blocks', 'drop-blocks'])[0];
    if (other !== undefined) {
      throw new UsageError(`prune: --sparsity prunes weights by magnitude and cannot be combined with --${other}; run the two kinds of pruning as separate commands`);
    }
    return 'magnitude';
  }
  const fineTune = givenFlags(FINE_TUNE_FLAGS)[0];
  if (fineTune !== undefined) throw new UsageError(`prune: --${fineTune} sets the fine-tuning of --sparsity; pass --sparsity S with it`);
  const inside = givenFlags(STRUCTURED_FLAGS)[0];
  if (values['structured'] !== true && inside !== undefined) throw new UsageError(`prune: --${inside} removes units or heads; pass --structured with it`);
  const blocks = givenFlags(['keep-blocks', 'drop-blocks']).length > 0;
  if (values['structured'] !== true && !blocks) {
    throw new UsageError(
      'prune: pass --structured (remove hidden units or attention heads), --keep-blocks or --drop-blocks (remove transformer blocks), ' +
        'or --sparsity S (set the smallest weights to 0 while fine-tuning)',
    );
  }
  return 'structure';
}

/**
 * Rejects GPT and encoder flags for a file that is not one, naming the flag and the file.
 * `kind` is the file's modelKind metadata entry.
 */
function checkMlpFlags(values: PruneRequest['values'], modelPath: string, kind: string | undefined): void {
  const flag = TRANSFORMER_FLAGS.find((f) => values[f] !== undefined);
  if (flag === undefined) return;
  const description = kind === undefined ? 'has no modelKind gpt or encoder in its metadata (an MLP has none)' : `is a ${kind} model`;
  throw new UsageError(
    `--${flag} ${String(values[flag])} needs a gpt or encoder model, but --model ${modelPath} ${description}; ` +
      'for an MLP pass --structured with --keep F or --widths W1,W2,...',
  );
}

export async function pruneCommand(argv: string[]): Promise<number> {
  const values = parseCommand('prune', argv, {
    model: { type: 'string' },
    out: { type: 'string' },
    structured: { type: 'boolean' },
    keep: { type: 'string' },
    widths: { type: 'string' },
    heads: { type: 'string' },
    'mlp-keep': { type: 'string' },
    'mlp-hidden': { type: 'string' },
    'keep-blocks': { type: 'string' },
    'drop-blocks': { type: 'string' },
    sparsity: { type: 'string' },
    scope: { type: 'string' },
    workers: { type: 'string' },
    epochs: { type: 'string' },
    steps: { type: 'string' },
    set: { type: 'string', multiple: true },
    'runs-dir': { type: 'string' },
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
  const mode = pruneMode(values);
  checkOutputPath(out, modelPath);
  const threads = values['threads'] === undefined ? 1 : positiveInt(values['threads'] as string, 'threads');
  const request: PruneRequest = { values, modelPath, out, threads };
  if (values['report'] !== undefined) checkReportTarget(resolve(values['report'] as string), rowName(request), threads);
  if (mode === 'magnitude') return magnitudePruneFile(request);

  const bytes = readModelFlag(modelPath);
  const kind = modelKindOf(modelPath, bytes);
  if (kind === 'gpt' || kind === 'encoder') return pruneTransformerFile(request, bytes);
  checkMlpFlags(values, modelPath, kind);
  return pruneMlpFile(request, bytes);
}
