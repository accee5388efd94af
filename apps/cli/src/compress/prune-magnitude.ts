import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readRunConfig } from '@ringtrain/config';
import { evaluateExportedModel } from '@ringtrain/coordinator';
import { readWeights } from '@ringtrain/graph';
import { createLogger } from '@ringtrain/logging';
import { positiveInt, requireString, shellQuote, UsageError } from '../args.js';
import { runStage } from '../pipeline/run-stage.js';
import { readModelFlag } from './compressed-model.js';
import { measureRow } from './model-row.js';
import { rowName, type PruneRequest } from './prune-request.js';
import { addReportRow } from './report-file.js';

/** Zero and total weights of a model's weight matrices, the tensors that magnitude pruning masks. */
export interface WeightSparsity {
  zeros: number;
  total: number;
  matrices: number;
  /** Elements of every float32 initializer, matrices or not. */
  parameters: number;
}

/** Counts the zeros of every 2-D float32 initializer, which in an MLP are the weight matrices fc{k}.weight. */
export function weightSparsity(bytes: Uint8Array): WeightSparsity {
  const counts = { zeros: 0, total: 0, matrices: 0, parameters: 0 };
  for (const weight of readWeights(bytes).values()) {
    counts.parameters += weight.data.length;
    if (weight.shape.length !== 2) continue;
    counts.matrices++;
    counts.total += weight.data.length;
    for (const v of weight.data) if (v === 0) counts.zeros++;
  }
  return counts;
}

/** Returns the `--set` overrides of the fine-tuning launch: the model, the pruning and the length, then the user's. */
function fineTuneOverrides(request: PruneRequest): string[] {
  const { values, modelPath } = request;
  const sparsity = Number(values['sparsity']);
  // prune.sparsity allows at most 0.99, so the message names the same range.
  if (!(sparsity > 0 && sparsity <= 0.99)) throw new UsageError(`--sparsity must be a share of weights in (0, 0.99], got '${String(values['sparsity'])}'`);
  const scope = (values['scope'] as string | undefined) ?? 'global';
  if (scope !== 'global' && scope !== 'layer') throw new UsageError(`--scope must be global or layer, got '${scope}'`);
  const epochs = values['epochs'] as string | undefined;
  const steps = values['steps'] as string | undefined;
  if (epochs !== undefined && steps !== undefined) throw new UsageError('prune: give at most one of --epochs and --steps');
  const overrides = [`init.from=${modelPath}`, `prune.sparsity=${sparsity}`, `prune.scope=${scope}`];
  if (epochs !== undefined) overrides.push(`train.epochs=${positiveInt(epochs, 'epochs')}`);
  if (steps !== undefined) overrides.push(`train.steps=${positiveInt(steps, 'steps')}`);
  const sets = (values['set'] as string[] | undefined) ?? [];
  let lengthFlag: string | undefined;
  if (epochs !== undefined) lengthFlag = 'epochs';
  if (steps !== undefined) lengthFlag = 'steps';
  checkSetConflicts(sets, lengthFlag);
  return [...overrides, ...sets];
}

/**
 * Rejects a --set of a key that a flag of the command sets, because the later --set would
 * silently win. `lengthFlag` is the run length flag given, if any.
 */
function checkSetConflicts(sets: readonly string[], lengthFlag: string | undefined): void {
  const flagOf: Record<string, string | undefined> = {
    'init.from': 'model',
    'prune.sparsity': 'sparsity',
    'prune.scope': 'scope',
    'train.epochs': lengthFlag,
    'train.steps': lengthFlag,
  };
  for (const set of sets) {
    const flag = flagOf[set.slice(0, set.indexOf('=')).trim()];
    if (flag === 'model') throw new UsageError(`--set ${set} conflicts with --model; the fine-tuning starts from --model, so drop the --set`);
    if (flag !== undefined) throw new UsageError(`--set ${set} conflicts with --${flag}; drop the --set and give the value with --${flag}`);
  }
}

/** Formats the held-out figures of one model: test errors and accuracy, or validation loss. */
function describeMetrics(metrics: Readonly<Record<string, number | undefined>>): string {
  const { testAccuracy, testErrors, valLoss } = metrics;
  if (testAccuracy !== undefined) return `test accuracy ${(testAccuracy * 100).toFixed(2)}% (${testErrors} errors)`;
  return `validation loss ${valLoss?.toFixed(4)}`;
}

/**
 * Fine-tunes a run's model in the cluster while pruning its smallest weights to --sparsity, as a
 * `ringtrain launch` child process with the run's config.json, `init.from` set to the model and
 * `prune.*` set. Copies the new run's model.onnx to --out, and prints the sparsity reached and
 * the held-out figures of both models.
 */
export async function magnitudePruneFile(request: PruneRequest): Promise<number> {
  const { values, modelPath, out, threads } = request;
  const workers = positiveInt(requireString(values, 'workers', 'prune'), 'workers');
  const configPath = resolve((values['config'] as string | undefined) ?? join(dirname(modelPath), 'config.json'));
  if (!existsSync(configPath)) {
    throw new UsageError(`no run config at ${configPath}; pass --config FILE with the config that trained --model ${modelPath}`);
  }
  const bytes = readModelFlag(modelPath);
  const overrides = fineTuneOverrides(request);
  // The child checks the config again; checking here names a bad key before any process starts.
  const sourceConfig = readRunConfig(configPath);
  if (sourceConfig.model.kind !== 'mlp') {
    throw new UsageError(
      `--sparsity fine-tunes with magnitude pruning, which is built for mlp runs, but ${configPath} is a ${sourceConfig.model.kind} run; ` +
        'prune its heads, MLP units or blocks with --structured --heads K, --mlp-keep F or --keep-blocks L',
    );
  }
  const config = readRunConfig(configPath, overrides);

  const runsDir = resolve((values['runs-dir'] as string | undefined) ?? 'runs');
  const args = ['launch', '--config', configPath, '--workers', String(workers), '--runs-dir', runsDir, ...overrides.flatMap((o) => ['--set', o])];
  process.stderr.write(`fine-tuning with magnitude pruning: ringtrain ${args.map(shellQuote).join(' ')}\n`);
  const runDir = await runStage('prune', args);
  copyFileSync(join(runDir, 'model.onnx'), out);
  const prunedBytes = readFileSync(out);
  const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as Record<string, number>;

  const logger = createLogger({ role: 'cli' });
  const before = await evaluateExportedModel(sourceConfig, bytes, logger);
  const reached = weightSparsity(prunedBytes);
  const lines = [
    `sparsity ${((reached.zeros / reached.total) * 100).toFixed(2)}% reached (target ${(config.prune.sparsity * 100).toFixed(2)}%): ` +
      `${reached.zeros.toLocaleString('en-US')} of ${reached.total.toLocaleString('en-US')} weights in ${reached.matrices} matrices are 0`,
    `before: ${describeMetrics(before)}`,
    `after pruning and fine-tuning: ${describeMetrics(summary)}`,
    `run directory ${runDir}`,
  ];
  const reportPath = values['report'] as string | undefined;
  if (reportPath !== undefined) {
    const parameters = summary['parameters'] ?? reached.parameters;
    const row = await measureRow(rowName(request), prunedBytes, { config, configPath, summary }, parameters, threads, logger);
    row.nonzeroParameters = parameters - reached.zeros;
    if (summary['wallSeconds'] !== undefined) row.trainWallSeconds = summary['wallSeconds'];
    addReportRow(resolve(reportPath), row, threads);
    lines.push(`added row '${row.name}' to ${resolve(reportPath)}`);
  }
  lines.push(`wrote ${out}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
