import { readFileSync } from 'node:fs';
import { onnx } from '@ringtrain/proto';
import { UsageError } from '../args.js';

/** Operators of int8 models: those that quantize writes, and those that onnxruntime fuses them into. */
const INT8_OPS = new Set([
  'DynamicQuantizeLinear',
  'MatMulInteger',
  'QuantizeLinear',
  'DequantizeLinear',
  'ConvInteger',
  'QLinearMatMul',
  'QLinearConv',
  'QGemm',
  'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat',
]);

/**
 * Rejects a model that is already int8 or float16, such as a file that `ringtrain quantize`
 * wrote. Quantising it again, or pruning or growing it, would start from rounded weights, and
 * the readers of ringtrain models do not find its float32 weights.
 *
 * @throws UsageError naming the format and what shows it, when the model is compressed
 */
export function checkNotCompressed(modelPath: string, bytes: Uint8Array): void {
  let graph: onnx.GraphProto | undefined;
  try {
    graph = onnx.ModelProto.decode(bytes).graph;
  } catch {
    return; // The command's own reader names a file that is not ONNX.
  }
  if (graph === undefined) return;
  const fix = 'pass the float32 model.onnx it was made from';
  const int8 = [...new Set(graph.node.map((n) => n.opType).filter((op) => INT8_OPS.has(op)))];
  if (int8.length > 0) throw new UsageError(`--model ${modelPath} is already compressed to int8 (it contains ${int8.join(', ')} nodes); ${fix}`);
  const half = graph.initializer.filter((t) => t.dataType === onnx.TensorProto_DataType.FLOAT16);
  if (half.length > 0) {
    throw new UsageError(`--model ${modelPath} is already compressed to float16 (it contains ${half.length} float16 weights, such as ${half[0]!.name}); ${fix}`);
  }
}

/**
 * Reads the --model file of a compression command.
 *
 * @throws UsageError when the file cannot be read, or, unless `allowCompressed`, when it is
 *   already int8 or float16
 */
export function readModelFlag(modelPath: string, allowCompressed = false): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(modelPath);
  } catch (err) {
    throw new UsageError(`cannot read --model ${modelPath}: ${(err as Error).message}`);
  }
  if (!allowCompressed) checkNotCompressed(modelPath, bytes);
  return bytes;
}
