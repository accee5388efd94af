import { readTensor, tensor, tensorProto } from '@ringtrain/graph';
import { onnx } from '@ringtrain/proto';
import { intAttribute, matMulIneligible, nodeChooser, type NodeChoice, type SkippedNode } from './node-choice.js';
import { quantizeMatrix } from './quantize-math.js';

/** Options of {@link quantizeDynamic}. */
export interface DynamicQuantizeOptions extends NodeChoice {
  /** One weight scale per output channel instead of one per matrix. @defaultValue true */
  perChannel?: boolean;
}

/** One quantised node. */
export interface QuantizedNode {
  node: string;
  op: string;
  weight: string;
  /** Shape of the weight as MatMul's B, [in, out]. */
  shape: [number, number];
}

/** A quantised model and what happened to each candidate node. */
export interface DynamicQuantizeResult {
  bytes: Uint8Array;
  quantized: QuantizedNode[];
  skipped: SkippedNode[];
}

const T = onnx.AttributeProto_AttributeType;

/** Returns the weight of a MatMul or Gemm node as MatMul's B [in, out], transposing a Gemm's transB=1 weight. */
function weightAsB(node: onnx.NodeProto, weight: onnx.TensorProto): { data: Float32Array; rows: number; cols: number } {
  const { shape, data } = readTensor(weight);
  const [r, c] = shape as [number, number];
  const values = data as Float32Array;
  if (node.opType !== 'Gemm' || intAttribute(node, 'transB', 0) === 0) return { data: values, rows: r, cols: c };
  const t = new Float32Array(values.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = values[i * c + j]!;
  return { data: t, rows: c, cols: r };
}

/**
 * Quantises the weights of MatMul and Gemm nodes to int8 and their activations to uint8 at run
 * time, as onnxruntime's `quantize_dynamic` does. Each chosen node becomes
 * DynamicQuantizeLinear, MatMulInteger, Cast and Mul (and Add for a Gemm bias), a pattern that
 * onnxruntime-node 1.30 fuses into one com.microsoft DynamicQuantizeMatMul node. Nodes are chosen by name. A node whose second input
 * is no stored 2-D float weight stays in float and is listed in `skipped` with the reason. Such
 * nodes are attention's query-key product and a tied head read through a Transpose. Conv nodes
 * are listed too, because onnxruntime's CPU provider has no fast ConvInteger kernel. Weights
 * that no float node reads any more are removed, which is what makes the file smaller.
 *
 * @throws Error when `include` names a node that the model does not have
 */
export function quantizeDynamic(bytes: Uint8Array, options: DynamicQuantizeOptions = {}): DynamicQuantizeResult {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (graph === undefined) throw new Error('the ONNX model has no graph');
  const perChannel = options.perChannel ?? true;
  const isChosen = nodeChooser(graph, options);
  const weights = new Map(graph.initializer.map((t) => [t.name, t]));
  const quantized: QuantizedNode[] = [];
  const skipped: SkippedNode[] = [];
  const replaced = new Set<string>();
  const inputQuant = new Map<string, [string, string, string]>();
  const nodes: onnx.NodeProto[] = [];
  const initializers: onnx.TensorProto[] = [];

  for (const node of graph.node) {
    const candidate = node.opType === 'MatMul' || node.opType === 'Gemm';
    if (node.opType === 'Conv') skipped.push({ node: node.name, op: 'Conv', reason: 'onnxruntime has no fast int8 ConvInteger kernel on CPU' });
    const chosen = candidate && isChosen(node);
    const reason = chosen ? matMulIneligible(node, weights) : undefined;
    if (!chosen || reason !== undefined) {
      if (reason !== undefined) skipped.push({ node: node.name, op: node.opType, reason });
      nodes.push(node);
      continue;
    }
    const weightName = node.input[1]!;
    const b = weightAsB(node, weights.get(weightName)!);
    const q = quantizeMatrix(b.data, b.rows, b.cols, perChannel);
    const id = node.name || `${weightName}_matmul`;
    const channelShape = perChannel ? [b.cols] : [];
    initializers.push(
      tensorProto(`${id}/weight_quantized`, tensor('int8', [b.rows, b.cols], q.values)),
      tensorProto(`${id}/weight_scale`, tensor('float32', channelShape, q.scales)),
      tensorProto(`${id}/weight_zero_point`, tensor('int8', channelShape, new Int8Array(q.scales.length))),
    );
    const input = node.input[0]!;
    let xq = inputQuant.get(input);
    if (xq === undefined) {
      // Nodes that read the same activation share its quantisation, such as one LayerNorm output feeding several matrices.
      const base = `${id}/input`;
      xq = [`${base}_quantized`, `${base}_scale`, `${base}_zero_point`];
      inputQuant.set(input, xq);
      nodes.push(onnx.NodeProto.fromPartial({ name: `${id}/quantize_input`, opType: 'DynamicQuantizeLinear', input: [input], output: xq }));
    }
    const output = node.output[0]!;
    const bias = node.opType === 'Gemm' ? node.input[2] : undefined;
    const product = bias ? `${id}/product` : output;
    nodes.push(
      onnx.NodeProto.fromPartial({ name: `${id}/matmul_integer`, opType: 'MatMulInteger', input: [xq[0], `${id}/weight_quantized`, xq[2], `${id}/weight_zero_point`], output: [`${id}/int32`] }),
      onnx.NodeProto.fromPartial({
        name: `${id}/cast`,
        opType: 'Cast',
        input: [`${id}/int32`],
        output: [`${id}/float`],
        attribute: [onnx.AttributeProto.fromPartial({ name: 'to', type: T.INT, i: onnx.TensorProto_DataType.FLOAT })],
      }),
      onnx.NodeProto.fromPartial({ name: `${id}/scales`, opType: 'Mul', input: [xq[1], `${id}/weight_scale`], output: [`${id}/scale`] }),
      onnx.NodeProto.fromPartial({ name: `${id}/rescale`, opType: 'Mul', input: [`${id}/float`, `${id}/scale`], output: [product] }),
    );
    if (bias) nodes.push(onnx.NodeProto.fromPartial({ name: `${id}/bias`, opType: 'Add', input: [product, bias], output: [output] }));
    replaced.add(weightName);
    quantized.push({ node: node.name, op: node.opType, weight: weightName, shape: [b.rows, b.cols] });
  }

  const stillRead = new Set(nodes.flatMap((n) => n.input));
  graph.node = nodes;
  graph.initializer = [...graph.initializer.filter((t) => !replaced.has(t.name) || stillRead.has(t.name)), ...initializers];
  return { bytes: onnx.ModelProto.encode(model).finish(), quantized, skipped };
}
