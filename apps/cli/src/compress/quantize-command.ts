import { readFileSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readWeights } from '@ringtrain/graph';
import { createLogger, type Logger } from '@ringtrain/logging';
import { quantizeDynamic } from '@ringtrain/quantize';
import { parseCommand, positiveInt, requireString, UsageError } from '../args.js';
import { inputBatch } from '../pipeline/measure-model.js';
import { measureRow, readSourceRun, type SourceRun } from './model-row.js';
import { addReportRow } from './report-file.js';

export const QUANTIZE_HELP = `Usage: ringtrain quantize --model FILE --out FILE [options]

Writes an int8 copy of a model.onnx. With --mode dynamic (the default, and the
usual first choice for transformers), MatMul and Gemm weights are stored as
int8 with one scale per output channel, and activations are quantised at run
time. Nodes that cannot be quantised stay in float, each with a log line. The
new file is loaded and run by onnxruntime before the command succeeds.

Options:
  --model FILE       the float model.onnx
  --out FILE         where to write the int8 model
  --mode MODE        dynamic (default)
  --per-tensor       one weight scale per matrix instead of one per output channel
  --per-channel      one weight scale per output channel (the default, unless the
                     model comes from a quantisation-aware run with quant.perChannel=false)
  --include NODES    comma-separated node names to quantise (default: every MatMul and Gemm)
  --exclude NODES    comma-separated node names to leave in float
  --config FILE      run config whose data evaluates both models (default: the
                     config.json beside --model, as in a run directory)
  --report FILE      add a row for the int8 model to this report.json (made if missing)
  --name NAME        name of that row (default: the --out file name without .onnx)
  --threads N        onnxruntime threads of the speed measurement (default 1)
  -h, --help         show this help

Prints the quantised nodes, the sizes and, with a run config, the test errors
or validation loss of the float and the int8 model. For the model.onnx of a
quantisation-aware run, the output equals the run's model-int8.onnx.`;

function nodeList(value: unknown): string[] | undefined {
  return typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
}

/**
 * Returns whether weights get one scale per output channel: the flag when one is given, else
 * the quant.perChannel of a quantisation-aware source run, whose training used those scales.
 */
function choosePerChannel(values: Record<string, unknown>, source: SourceRun | undefined, logger: Logger): boolean {
  const perTensor = values['per-tensor'] === true;
  const perChannel = values['per-channel'] === true;
  if (perTensor && perChannel) throw new UsageError('--per-tensor and --per-channel exclude each other; pass one of them');
  const trained = source?.config.quant.aware === true ? source.config.quant.perChannel : undefined;
  if (perTensor || perChannel) {
    if (trained !== undefined && trained !== perChannel) {
      logger.warn({ trainedPerChannel: trained }, 'the model was trained with other int8 weight scales, so the int8 model computes other values than training did');
    }
    return perChannel;
  }
  if (trained === false) logger.info('per-tensor weight scales, as in the quantisation-aware training of the model (quant.perChannel=false)');
  return trained ?? true;
}

/** Loads the model in onnxruntime and runs it on one sample, as the check that the file works. */
async function checkLoads(bytes: Uint8Array, out: string, blockSize: number | undefined): Promise<void> {
  try {
    const session = await ort.InferenceSession.create(bytes);
    const meta = session.inputMetadata[0]!;
    await session.run({ [meta.name]: inputBatch(meta, 1, meta.name === 'idx' ? (blockSize ?? 1) : undefined) });
    await session.release();
  } catch (err) {
    throw new Error(`the quantised model for ${out} does not run in onnxruntime: ${(err as Error).message}`);
  }
}

/** Counts the elements of a model's float32 initializers, the parameter count when no run summary states it. */
function countFloatParameters(bytes: Uint8Array): number {
  let count = 0;
  for (const weight of readWeights(bytes).values()) count += weight.data.length;
  return count;
}

export async function quantizeCommand(argv: string[]): Promise<number> {
  const values = parseCommand('quantize', argv, {
    model: { type: 'string' },
    out: { type: 'string' },
    mode: { type: 'string' },
    'per-tensor': { type: 'boolean' },
    'per-channel': { type: 'boolean' },
    include: { type: 'string' },
    exclude: { type: 'string' },
    config: { type: 'string' },
    report: { type: 'string' },
    name: { type: 'string' },
    threads: { type: 'string' },
  });
  if (values['help']) {
    process.stdout.write(QUANTIZE_HELP + '\n');
    return 0;
  }
  const modelPath = resolve(requireString(values, 'model', 'quantize'));
  const out = resolve(requireString(values, 'out', 'quantize'));
  const mode = (values['mode'] as string | undefined) ?? 'dynamic';
  if (mode !== 'dynamic') throw new UsageError(`--mode ${mode} is not supported; use --mode dynamic`);
  const threads = values['threads'] === undefined ? 1 : positiveInt(values['threads'] as string, 'threads');
  const logger = createLogger({ role: 'cli' });

  let bytes: Buffer;
  try {
    bytes = readFileSync(modelPath);
  } catch (err) {
    throw new UsageError(`cannot read --model ${modelPath}: ${(err as Error).message}`);
  }
  const source = readSourceRun(modelPath, values['config'] as string | undefined);
  const reportPath = values['report'] as string | undefined;
  if (reportPath !== undefined && source === undefined) {
    throw new UsageError(`--report needs the run config that evaluates the model; no config.json beside ${modelPath}, so pass --config FILE`);
  }

  const perChannel = choosePerChannel(values, source, logger);
  let result;
  try {
    result = quantizeDynamic(bytes, { perChannel, include: nodeList(values['include']), exclude: nodeList(values['exclude']) });
  } catch (err) {
    throw new UsageError(`cannot quantise ${modelPath}: ${(err as Error).message}`);
  }
  for (const s of result.skipped) logger.info({ node: s.node, op: s.op, reason: s.reason }, 'node left in float');
  if (result.quantized.length === 0) throw new UsageError(`${modelPath} has no MatMul or Gemm node with a stored weight to quantise`);
  await checkLoads(result.bytes, out, source?.config.model.blockSize);
  writeFileSync(out, result.bytes);

  const lines = [
    `quantised ${result.quantized.length} nodes to int8 (${perChannel ? 'per channel' : 'per tensor'}): ${result.quantized.map((n) => n.node).join(', ')}`,
    `left in float: ${result.skipped.length === 0 ? 'none' : result.skipped.map((s) => s.node).join(', ')}`,
    `size ${bytes.length.toLocaleString('en-US')} -> ${result.bytes.length.toLocaleString('en-US')} bytes (${(result.bytes.length / bytes.length).toFixed(3)} of float32)`,
  ];
  if (source !== undefined) {
    const parameters = source.summary['parameters'] ?? countFloatParameters(bytes);
    const float = await measureRow('float32', bytes, source, parameters, threads, logger);
    const int8 = await measureRow((values['name'] as string | undefined) ?? basename(out).replace(/\.onnx$/, ''), result.bytes, source, parameters, threads, logger);
    const metric = (r: typeof float) => (r.testErrors !== undefined ? `${r.testErrors} test errors (${((r.testAccuracy ?? 0) * 100).toFixed(2)}%)` : `valLoss ${r.valLoss?.toFixed(4)}`);
    lines.push(`float32: ${metric(float)}, ${float.latencyMsBatch1.toFixed(3)} ms at batch 1, ${float.samplesPerSecBatch256.toFixed(0)} samples/s at batch 256`);
    lines.push(`int8:    ${metric(int8)}, ${int8.latencyMsBatch1.toFixed(3)} ms at batch 1, ${int8.samplesPerSecBatch256.toFixed(0)} samples/s at batch 256 (${threads} thread(s))`);
    if (reportPath !== undefined) {
      addReportRow(resolve(reportPath), int8, threads);
      lines.push(`added row '${int8.name}' to ${resolve(reportPath)}`);
    }
  }
  lines.push(`wrote ${out}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
