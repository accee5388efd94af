import { writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readModelMetadata, readWeights } from '@ringtrain/graph';
import { createLogger, type Logger } from '@ringtrain/logging';
import { readMlpModel, readTransformerModel } from '@ringtrain/models';
import { parseCommand, positiveInt, requireString, UsageError } from '../args.js';
import { inputBatch } from '../pipeline/measure-model.js';
import { readModelFlag } from './compressed-model.js';
import { measureRow, readSourceRun, type SourceRun } from './model-row.js';
import { checkOutputPath } from './output-path.js';
import { addReportRow, checkReportTarget } from './report-file.js';
import { compressModel } from './quantize-modes.js';
import { DEFAULT_CALIBRATION_SAMPLES, DEFAULT_PERCENTILE, quantizeRequest } from './quantize-options.js';

export const QUANTIZE_HELP = `Usage: ringtrain quantize --model FILE --out FILE [options]

Writes a smaller copy of a model.onnx and checks that onnxruntime loads and runs
it before the command succeeds. Nodes and weights that stay in float32 are
logged, each with the reason.

  --mode dynamic   int8 weights (MatMul, Gemm); activations quantised at run
                   time. The usual first choice for transformers. Needs no data.
  --mode static    int8 weights and int8 activations with scales calibrated on
                   a sample of the run's training data, in the QDQ form that
                   onnxruntime fuses into QGemm, MatMulIntegerToFloat and
                   QLinearConv. Needs the run config.
  --mode float16   weights stored as float16 and cast back to float32 when
                   onnxruntime loads the model; input and logits stay float32.

Options:
  --model FILE                 the float32 model.onnx
  --out FILE                   where to write the new model
  --mode MODE                  dynamic, static or float16 (default dynamic)
  --per-tensor                 one int8 weight scale per weight tensor instead of
                               one per output channel (dynamic and static)
  --per-channel                one int8 weight scale per output channel: the
                               default, unless the model comes from a
                               quantisation-aware run with quant.perChannel=false
  --include NODES              comma-separated node names to compress (default:
                               every eligible node)
  --exclude NODES              comma-separated node names to leave in float32
  --calibrate METHOD           static: minmax, percentile or entropy (default
                               minmax); entropy is TensorRT's KL-divergence search
                               over a 2048-bin histogram
  --percentile P               static with --calibrate percentile: percent of the
                               values each activation range keeps, in (0, 100]
                               (default ${DEFAULT_PERCENTILE})
  --calibration-samples N      static: training samples (images, text windows or
                               e-mails) to calibrate on (default ${DEFAULT_CALIBRATION_SAMPLES})
  --activations TYPE           static: asymmetric (uint8 with a zero point) or
                               symmetric (int8, zero point 0) (default asymmetric)
  --seed S                     static: seed of the calibration sample, an integer
                               in [0, 2^32) (default: the run config's seed)
  --config FILE                run config whose data calibrates and evaluates the
                               models (default: the config.json beside --model, as
                               in a run directory)
  --report FILE                add a row for the new model to this report.json
                               (made if missing)
  --name NAME                  name of that row (default: the --out file name
                               without .onnx)
  --threads N                  onnxruntime threads of calibration and of the speed
                               measurement (default 1)
  -h, --help                   show this help

Prints what was compressed, the sizes and, with a run config, the test errors
or validation loss of the float32 and the new model. For the model.onnx of a
quantisation-aware run, --mode dynamic writes the run's model-int8.onnx.`;

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
    throw new Error(`the compressed model for ${out} failed to run in onnxruntime: ${(err as Error).message}`);
  }
}

/**
 * Counts a model's parameters when no run summary states them: the trained tensors of a ringtrain
 * MLP, GPT or encoder, whose files also store constants such as input_mean and the causal mask,
 * else the elements of every float32 initializer.
 */
function countParameters(bytes: Uint8Array): number {
  const kind = readModelMetadata(bytes)['modelKind'];
  try {
    return kind === 'gpt' || kind === 'encoder' ? readTransformerModel(bytes).params.length : readMlpModel(bytes).params.length;
  } catch {
    let count = 0;
    for (const weight of readWeights(bytes).values()) count += weight.data.length;
    return count;
  }
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
    calibrate: { type: 'string' },
    percentile: { type: 'string' },
    'calibration-samples': { type: 'string' },
    activations: { type: 'string' },
    seed: { type: 'string' },
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
  checkOutputPath(out, modelPath);
  const request = quantizeRequest(values);
  const threads = values['threads'] === undefined ? 1 : positiveInt(values['threads'] as string, 'threads');
  const logger = createLogger({ role: 'cli' });

  const bytes = readModelFlag(modelPath);
  const source = readSourceRun(modelPath, values['config'] as string | undefined, bytes);
  const reportPath = values['report'] as string | undefined;
  const rowName = (values['name'] as string | undefined) ?? basename(out).replace(/\.onnx$/, '');
  if (reportPath !== undefined) {
    if (source === undefined) throw new UsageError(`--report needs the run config that evaluates the model; no config.json beside ${modelPath}, so pass --config FILE`);
    checkReportTarget(resolve(reportPath), rowName, threads);
  }

  if (request.mode !== 'float16') request.perChannel = choosePerChannel(values, source, logger);
  const result = await compressModel(request, { modelPath, bytes, source, threads, logger });
  await checkLoads(result.bytes, out, source?.config.model.blockSize);
  writeFileSync(out, result.bytes);

  const lines = [
    ...result.lines,
    `size ${bytes.length.toLocaleString('en-US')} -> ${result.bytes.length.toLocaleString('en-US')} bytes (${(result.bytes.length / bytes.length).toFixed(3)} of float32)`,
  ];
  if (source !== undefined) {
    const parameters = source.summary['parameters'] ?? countParameters(bytes);
    const float = await measureRow('float32', bytes, source, parameters, threads, logger);
    const compressed = await measureRow(rowName, result.bytes, source, parameters, threads, logger);
    const metric = (r: typeof float) => (r.testErrors !== undefined ? `${r.testErrors} test errors (${((r.testAccuracy ?? 0) * 100).toFixed(2)}%)` : `valLoss ${r.valLoss?.toFixed(4)}`);
    const label = (format: string) => `${format}:`.padEnd(9);
    lines.push(`${label('float32')}${metric(float)}, ${float.latencyMsBatch1.toFixed(3)} ms at batch 1, ${float.samplesPerSecBatch256.toFixed(0)} samples/s at batch 256`);
    lines.push(
      `${label(result.format)}${metric(compressed)}, ${compressed.latencyMsBatch1.toFixed(3)} ms at batch 1, ` +
        `${compressed.samplesPerSecBatch256.toFixed(0)} samples/s at batch 256 (${threads} thread(s))`,
    );
    if (reportPath !== undefined) {
      addReportRow(resolve(reportPath), compressed, threads);
      lines.push(`added row '${compressed.name}' to ${resolve(reportPath)}`);
    }
  }
  lines.push(`wrote ${out}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
