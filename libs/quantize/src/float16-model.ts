import { readTensor, tensor, tensorProto } from '@ringtrain/graph';
import { onnx } from '@ringtrain/proto';
import { FLOAT16_MAX, fromFloat16Bits, toFloat16Bits } from './float16.js';
import { nodeChooser, type NodeChoice } from './node-choice.js';

const T = onnx.AttributeProto_AttributeType;

/** Options of {@link convertToFloat16}: a weight is stored as float16 when every node that reads it is chosen. */
export type Float16Options = NodeChoice;

/** A weight stored as float16. */
export interface Float16Weight {
  name: string;
  shape: number[];
  /** Largest |float16(x) - x| over the weight's values. */
  maxError: number;
}

/** A float32 initializer kept in float32, with the reason. */
export interface Float32Kept {
  name: string;
  reason: string;
}

/** A model with float16 weights and what happened to each float32 initializer. */
export interface Float16Result {
  bytes: Uint8Array;
  converted: Float16Weight[];
  kept: Float32Kept[];
}

/**
 * Stores the float32 weights of a model as float16, each followed by a Cast back to float32
 * under the weight's own name, so the graph, its `input` and its `logits` stay float32.
 * onnxruntime folds the Casts when it loads the model, so the model computes in float32 with
 * weights rounded to float16 (ties to even), and the weights take half the bytes in the file.
 *
 * A single-element initializer (a constant of a composite op, such as GELU's 1/sqrt(2)) stays
 * float32 because float16 would add rounding error and save nothing. So does an initializer
 * with a finite value beyond ±65504, which float16 would turn into Infinity, one that is also a
 * graph input, and one read by a node that is not chosen.
 *
 * @throws Error when `include` or `exclude` names a node that the model does not have
 */
export function convertToFloat16(bytes: Uint8Array, options: Float16Options = {}): Float16Result {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (graph === undefined) throw new Error('the ONNX model has no graph');
  const isChosen = nodeChooser(graph, options);
  const inputs = new Set(graph.input.map((v) => v.name));
  const unchosenReads = new Set(graph.node.filter((n) => !isChosen(n)).flatMap((n) => n.input));
  const converted: Float16Weight[] = [];
  const kept: Float32Kept[] = [];
  const casts: onnx.NodeProto[] = [];
  const initializers: onnx.TensorProto[] = [];

  for (const initializer of graph.initializer) {
    if (initializer.dataType !== onnx.TensorProto_DataType.FLOAT) {
      initializers.push(initializer);
      continue;
    }
    const { shape, data } = readTensor(initializer);
    const values = data as Float32Array;
    const reason = keepReason(initializer.name, values, inputs, unchosenReads);
    if (reason !== undefined) {
      kept.push({ name: initializer.name, reason });
      initializers.push(initializer);
      continue;
    }
    const stored = `${initializer.name}/float16`;
    const { bits, maxError } = roundToFloat16(values);
    initializers.push(tensorProto(stored, tensor('float16', shape, bits)));
    casts.push(
      onnx.NodeProto.fromPartial({
        name: `${initializer.name}/cast`,
        opType: 'Cast',
        input: [stored],
        output: [initializer.name],
        attribute: [onnx.AttributeProto.fromPartial({ name: 'to', type: T.INT, i: onnx.TensorProto_DataType.FLOAT })],
      }),
    );
    converted.push({ name: initializer.name, shape: [...shape], maxError });
  }

  graph.initializer = initializers;
  graph.node = [...casts, ...graph.node];
  return { bytes: onnx.ModelProto.encode(model).finish(), converted, kept };
}

function keepReason(name: string, values: Float32Array, inputs: Set<string>, unchosenReads: Set<string>): string | undefined {
  if (values.length <= 1) return 'a single value, which float16 would only round';
  if (inputs.has(name)) return 'it is also a graph input, which a caller may replace';
  if (unchosenReads.has(name)) return 'a node that is not chosen reads it';
  if (values.some((v) => Number.isFinite(v) && Math.abs(v) > FLOAT16_MAX)) return `it has values beyond float16's range of ±${FLOAT16_MAX}`;
  return undefined;
}

function roundToFloat16(values: Float32Array): { bits: Uint16Array; maxError: number } {
  const bits = new Uint16Array(values.length);
  let maxError = 0;
  values.forEach((v, i) => {
    bits[i] = toFloat16Bits(v);
    if (Number.isFinite(v)) maxError = Math.max(maxError, Math.abs(fromFloat16Bits(bits[i]!) - v));
  });
  return { bits, maxError };
}
