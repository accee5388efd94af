import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from '@ringtrain/proto';
import * as ort from 'onnxruntime-node';
import type { NodePlan } from './qdq-model.js';

/** Reason of a node whose QDQ group onnxruntime does not fuse. */
export const UNFUSED_REASON =
  "onnxruntime's CPU provider does not fuse its QuantizeLinear/DequantizeLinear group into an int8 kernel here, so it would run in float";

/**
 * Returns the graph of `bytes` after onnxruntime's full graph optimisation, which replaces
 * each QDQ group that it can fuse by one int8 kernel.
 */
export async function optimizedGraph(bytes: Uint8Array): Promise<onnx.GraphProto> {
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-qdq-'));
  try {
    const path = join(dir, 'optimized.onnx');
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: path, logSeverityLevel: 3 });
    await session.release();
    return onnx.ModelProto.decode(readFileSync(path)).graph!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Returns the planned nodes whose weight DequantizeLinear is still in the optimised graph. A
 * fused kernel reads the int8 weight itself, so a remaining DequantizeLinear of the weight means
 * that the node runs in float.
 */
export async function unfusedNodes(bytes: Uint8Array, plans: readonly NodePlan[]): Promise<NodePlan[]> {
  const graph = await optimizedGraph(bytes);
  const dequantized = new Set(graph.node.filter((n) => n.opType === 'DequantizeLinear').map((n) => n.input[0]));
  return plans.filter((p) => dequantized.has(`${p.id}/weight/quantized`));
}
