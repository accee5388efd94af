import { tensor } from '@ringtrain/graph';
import { onnx } from '@ringtrain/proto';
import { QdqWriter } from './qdq-writer.js';
import type { QuantParams, QuantType } from './quantize-math.js';

/** A node chosen for static quantisation, with its quantised weight and bias. */
export interface NodePlan {
  node: onnx.NodeProto;
  /** Position of the node in the graph's node list. */
  index: number;
  /** Prefix of the names of its new nodes and initializers. */
  id: string;
  /** Axis of the per-channel weight scales, or undefined for one scale per tensor. */
  axis: number | undefined;
  weight: { values: Int8Array; scales: Float32Array; dims: number[] };
  bias?: { values: Int32Array; scales: Float32Array };
  /**
   * The output that is quantised too: a Conv's own output (QLinearConv returns quantised values)
   * or that of a Relu or Clip right after the node, which onnxruntime then folds into the int8
   * kernel. Without it, onnxruntime 1.30 leaves a node followed by Relu unfused.
   */
  output?: { index: number; tensor: string };
}

/** Quantisation parameters of an activation tensor. */
export type ActivationParams = QuantParams & { type: QuantType };

/**
 * Returns `bytes` with the planned nodes in QDQ form. Activations are quantised once, just
 * before their first planned reader or just after the node that produces a planned output, and
 * each planned reader gets its own DequantizeLinear. Float weights and biases that no node
 * reads any more are removed, which is what makes the file smaller.
 */
export function writeQdqModel(bytes: Uint8Array, plans: readonly NodePlan[], params: Map<string, ActivationParams>): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const writer = new QdqWriter(graph);
  const byIndex = new Map(plans.map((p) => [p.index, p]));
  const outputs = new Map(plans.filter((p) => p.output !== undefined).map((p) => [p.output!.index, p.output!.tensor]));
  const floatRead = floatReadTensors(graph, byIndex);
  const replaced = new Set<string>();
  for (const [index, node] of graph.node.entries()) {
    const plan = byIndex.get(index);
    const written = plan === undefined ? { ...node } : writeInputs(writer, plan, params);
    writer.nodes.push(written);
    if (plan !== undefined) node.input.slice(1).forEach((name) => replaced.add(name));
    const output = outputs.get(index);
    if (output !== undefined) quantizeOutput(writer, written, output, params.get(output)!, floatRead.has(output));
  }
  const stillRead = new Set(writer.nodes.flatMap((n) => n.input));
  graph.node = writer.nodes;
  graph.initializer = [...graph.initializer.filter((t) => !replaced.has(t.name) || stillRead.has(t.name)), ...writer.initializers];
  return onnx.ModelProto.encode(model).finish();
}

/** Returns the tensors that some node reads in float, which is every read except a planned node's activation, and the graph outputs. */
function floatReadTensors(graph: onnx.GraphProto, plans: Map<number, NodePlan>): Set<string> {
  const names = new Set(graph.output.map((o) => o.name));
  graph.node.forEach((node, index) => node.input.forEach((name, k) => (k === 0 && plans.has(index) ? undefined : names.add(name))));
  return names;
}

/** Writes the QuantizeLinear and DequantizeLinear nodes of a planned node's inputs, and returns the node reading them. */
function writeInputs(writer: QdqWriter, plan: NodePlan, params: Map<string, ActivationParams>): onnx.NodeProto {
  const { node, id, axis, weight, bias } = plan;
  const x = node.input[0]!;
  const xq = writer.quantized(x) ?? writer.quantizeActivation(x, params.get(x)!);
  const inputs = [writer.dequantize(`${id}/input`, xq, undefined)];

  const channels = axis === undefined ? [] : [weight.scales.length];
  const weightZeroPoints = tensor('int8', channels, new Int8Array(weight.scales.length));
  const wq = writer.storeQuantized(`${id}/weight`, tensor('int8', weight.dims, weight.values), weight.scales, weightZeroPoints, axis);
  inputs.push(writer.dequantize(`${id}/weight`, wq, axis));
  if (bias !== undefined) {
    // The bias has one value per output channel, so its per-channel axis is 0.
    const biasAxis = axis === undefined ? undefined : 0;
    const biasZeroPoints = tensor('int32', channels, new Int32Array(bias.scales.length));
    const bq = writer.storeQuantized(`${id}/bias`, tensor('int32', [bias.values.length], bias.values), bias.scales, biasZeroPoints, biasAxis);
    inputs.push(writer.dequantize(`${id}/bias`, bq, biasAxis));
  }
  return { ...node, input: inputs };
}

/**
 * Quantises the first output of `producer`, which was just written. When a node reads it in
 * float, the producer's output is renamed and a DequantizeLinear restores the tensor under its
 * own name, so that the QuantizeLinear is the producer's only reader, as onnxruntime's fusion
 * requires.
 */
function quantizeOutput(writer: QdqWriter, producer: onnx.NodeProto, tensorName: string, params: ActivationParams, readInFloat: boolean): void {
  if (!readInFloat) {
    writer.quantizeActivation(tensorName, params);
    return;
  }
  const floatOutput = writer.fresh(`${tensorName}/float_output`);
  producer.output = [floatOutput, ...producer.output.slice(1)];
  const quantized = writer.quantizeActivation(tensorName, params, floatOutput);
  writer.dequantize(tensorName, quantized, undefined, tensorName);
}
