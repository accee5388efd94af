import { readTensor } from '@ringtrain/graph';
import { onnx } from '@ringtrain/proto';
import { calibrateRanges, type CalibrationBatch } from './calibrate.js';
import type { CalibrationMethod, TensorRange } from './calibration-methods.js';
import { intAttribute, nodeChooser, type NodeChoice, type SkippedNode } from './node-choice.js';
import { unfusedNodes, UNFUSED_REASON } from './fusion-check.js';
import { writeQdqModel, type NodePlan } from './qdq-model.js';
import { activationParams, quantizeBias, quantizeWeight, type QuantParams, type QuantType } from './quantize-math.js';
import { staticIneligible } from './static-eligibility.js';

/** Options of {@link quantizeStatic}. */
export interface StaticQuantizeOptions extends NodeChoice {
  /** One weight scale per output channel instead of one per weight tensor. @defaultValue true */
  perChannel?: boolean;
  /**
   * Activation type: 'asymmetric' is uint8 with a zero point, and 'symmetric' is int8 with zero
   * point 0. @defaultValue 'asymmetric'
   */
  activations?: 'asymmetric' | 'symmetric';
  /** Method that chooses each activation's range from the calibration runs. @defaultValue 'minmax' */
  method?: CalibrationMethod;
  /** Percent of the values that the 'percentile' method keeps, in (0, 100]. @defaultValue 99.99 */
  percentile?: number;
  /** onnxruntime intra-op threads of the calibration runs. @defaultValue onnxruntime's default */
  threads?: number;
}

/** One node whose activation and weight were quantised. */
export interface StaticQuantizedNode {
  node: string;
  op: string;
  weight: string;
  /** Shape of the stored weight. */
  shape: number[];
}

/** The calibrated range and quantisation of one activation tensor. */
export interface QuantizedActivation extends TensorRange, QuantParams {
  tensor: string;
  type: QuantType;
}

/** A statically quantised model and what happened to each candidate node. */
export interface StaticQuantizeResult {
  bytes: Uint8Array;
  quantized: StaticQuantizedNode[];
  skipped: SkippedNode[];
  activations: QuantizedActivation[];
}

const STATIC_OPS = new Set(['MatMul', 'Gemm', 'Conv']);

/**
 * Quantises MatMul, Gemm and Conv nodes to int8 in QDQ form, with activation ranges calibrated
 * on `batches`, as onnxruntime's `quantize_static` does. For each chosen node the activation
 * goes through QuantizeLinear and DequantizeLinear, the weight is stored as symmetric int8
 * (zero point 0) beside a DequantizeLinear, and a Gemm or Conv bias is stored as int32 with
 * scale inputScale * weightScale. A Conv's output gets its own QuantizeLinear and
 * DequantizeLinear, because QLinearConv returns quantised values. So does the output of a Relu
 * or Clip that is a chosen node's only reader, because onnxruntime fuses the node and the Relu
 * only when a QuantizeLinear follows. Nodes keep their names.
 *
 * onnxruntime's CPU provider fuses these groups into MatMulIntegerToFloat, QGemm and
 * QLinearConv. The result is checked by optimising it in onnxruntime: a node whose group
 * stayed apart would run in float behind the DequantizeLinear, so it is put back in float.
 * Every node left in float is listed in `skipped` with the reason.
 *
 * @throws Error when `include` or `exclude` names a node that the model does not have, or the
 *   model fails to run on the calibration batches
 * @throws RangeError on an invalid percentile or an empty batch list
 */
export async function quantizeStatic(
  bytes: Uint8Array,
  batches: readonly CalibrationBatch[],
  options: StaticQuantizeOptions = {},
): Promise<StaticQuantizeResult> {
  const graph = onnx.ModelProto.decode(bytes).graph;
  if (graph === undefined) throw new Error('the ONNX model has no graph');
  const symmetric = options.activations === 'symmetric';
  const { plans: weighted, skipped } = planNodes(graph, options, symmetric);
  if (weighted.length === 0) return { bytes, quantized: [], skipped, activations: [] };

  // Calibrate every activation that a chosen node reads, and every output that is quantised too.
  const tensors = [...new Set(weighted.flatMap((p) => [p.node.input[0]!, ...(p.output === undefined ? [] : [p.output.tensor])]))];
  const ranges = await calibrateRanges(bytes, tensors, batches, { method: options.method, percentile: options.percentile, symmetric, threads: options.threads });
  const activations = tensors.map((t) => ({ tensor: t, ...ranges.get(t)!, ...activationParams(ranges.get(t)!.min, ranges.get(t)!.max, symmetric) }));
  const params = new Map(activations.map((a) => [a.tensor, a]));

  let plans: NodePlan[] = [];
  for (const plan of weighted) {
    const withInt32Bias = withBias(plan, graph, params.get(plan.node.input[0]!)!.scale);
    if (withInt32Bias === undefined) skipped.push({ node: plan.node.name, op: plan.node.opType, reason: 'its bias does not fit int32 at scale inputScale * weightScale' });
    else plans.push(withInt32Bias);
  }

  // Put back in float every node whose group onnxruntime does not fuse, until all that remain fuse.
  for (;;) {
    const quantizedBytes = writeQdqModel(bytes, plans, params);
    const unfused = await unfusedNodes(quantizedBytes, plans);
    if (unfused.length === 0) {
      const used = activations.filter((a) => plans.some((p) => p.node.input[0] === a.tensor || p.output?.tensor === a.tensor));
      const quantized = plans.map((p) => ({ node: p.node.name, op: p.node.opType, weight: p.node.input[1]!, shape: p.weight.dims }));
      return { bytes: quantizedBytes, quantized, skipped, activations: used };
    }
    for (const plan of unfused) skipped.push({ node: plan.node.name, op: plan.node.opType, reason: UNFUSED_REASON });
    plans = plans.filter((p) => !unfused.includes(p));
  }
}

/** Chooses the nodes to quantise and quantises their weights; the rest are skipped with a reason. */
function planNodes(graph: onnx.GraphProto, options: StaticQuantizeOptions, symmetric: boolean): { plans: NodePlan[]; skipped: SkippedNode[] } {
  const isChosen = nodeChooser(graph, options);
  const weights = new Map(graph.initializer.map((t) => [t.name, t]));
  const readers = tensorReaders(graph);
  const plans: NodePlan[] = [];
  const skipped: SkippedNode[] = [];
  for (const [index, node] of graph.node.entries()) {
    if (!STATIC_OPS.has(node.opType) || !isChosen(node)) continue;
    const reason = staticIneligible(node, weights, symmetric);
    if (reason !== undefined) {
      skipped.push({ node: node.name, op: node.opType, reason });
      continue;
    }
    const { data, shape } = readTensor(weights.get(node.input[1]!)!);
    const dims = [...shape];
    const axis = options.perChannel === false ? undefined : outputChannelAxis(node);
    const weight = { ...quantizeWeight(data as Float32Array, dims, axis), dims };
    const output = quantizedOutput(graph, index, readers);
    plans.push({ node, index, id: node.name || `${node.input[1]}_node`, axis, weight, ...(output === undefined ? {} : { output }) });
  }
  return { plans, skipped };
}

/** Returns the indices of the nodes that read each tensor, with -1 for a graph output. */
function tensorReaders(graph: onnx.GraphProto): Map<string, number[]> {
  const readers = new Map<string, number[]>();
  const add = (name: string, index: number) => readers.set(name, [...(readers.get(name) ?? []), index]);
  graph.node.forEach((node, index) => node.input.forEach((name) => add(name, index)));
  graph.output.forEach((output) => add(output.name, -1));
  return readers;
}

/**
 * Returns the output that is quantised with a planned node: the output of a Relu or Clip that
 * is the node's only reader, else a Conv's own output, else none. onnxruntime folds such a Relu
 * or Clip into the int8 kernel when a QuantizeLinear follows it.
 */
function quantizedOutput(graph: onnx.GraphProto, index: number, readers: Map<string, number[]>): { index: number; tensor: string } | undefined {
  const node = graph.node[index]!;
  const next = readers.get(node.output[0]!) ?? [];
  if (next.length === 1 && next[0]! >= 0) {
    const follower = graph.node[next[0]!]!;
    if ((follower.opType === 'Relu' || follower.opType === 'Clip') && !(readers.get(follower.output[0]!) ?? []).includes(-1)) {
      return { index: next[0]!, tensor: follower.output[0]! };
    }
  }
  return node.opType === 'Conv' ? { index, tensor: node.output[0]! } : undefined;
}

/** Returns the axis of a node's weight that indexes its output channels. */
function outputChannelAxis(node: onnx.NodeProto): number {
  if (node.opType === 'Conv') return 0;
  if (node.opType === 'Gemm' && intAttribute(node, 'transB', 0) === 1) return 0;
  return 1;
}

/** Returns the plan with its bias quantised, the plan itself when it has no bias, or undefined when the bias does not fit int32. */
function withBias(plan: NodePlan, graph: onnx.GraphProto, inputScale: number): NodePlan | undefined {
  const biasName = plan.node.input[2];
  if (biasName === undefined || biasName === '') return plan;
  const bias = readTensor(graph.initializer.find((t) => t.name === biasName)!).data as Float32Array;
  const quantized = quantizeBias(bias, inputScale, plan.weight.scales);
  return quantized === undefined ? undefined : { ...plan, bias: quantized };
}
