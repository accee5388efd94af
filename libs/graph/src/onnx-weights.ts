import { onnx } from '@ringtrain/proto';
import { OnnxFormatError, readTensor } from './onnx-reader.js';

/** One use of a stored weight by a node: the op, the input position and the attributes that decide the layout. */
export interface WeightUse {
  op: string;
  input: number;
  /** Gemm's `transB`, when the op is Gemm. */
  transB?: number;
}

/** A float32 initializer of a model file and the nodes that read it. */
export interface StoredWeight {
  name: string;
  shape: number[];
  data: Float32Array;
  uses: WeightUse[];
}

/**
 * Reads the float32 initializers of an ONNX model and, for each, the nodes that consume it.
 * It decodes no graph structure beyond that, so it works on models with any ops, such as
 * PyTorch exports. Initializers of other types (int64 shapes, for instance) are left out.
 *
 * @throws OnnxFormatError when the bytes are not an ONNX model or a tensor cannot be decoded
 */
export function readWeights(bytes: Uint8Array): Map<string, StoredWeight> {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new OnnxFormatError(`not an ONNX model: ${(error as Error).message}`);
  }
  const graph = model.graph;
  if (graph === undefined) throw new OnnxFormatError('the ONNX model has no graph');
  const weights = new Map<string, StoredWeight>();
  for (const t of graph.initializer) {
    if (t.dataType !== onnx.TensorProto_DataType.FLOAT) continue;
    const { shape, data } = readTensor(t);
    weights.set(t.name, { name: t.name, shape: [...shape], data: data as Float32Array, uses: [] });
  }
  for (const node of graph.node) {
    node.input.forEach((name, input) => {
      const weight = weights.get(name);
      if (weight === undefined) return;
      const use: WeightUse = { op: node.opType, input };
      if (node.opType === 'Gemm') {
        use.transB = Number(node.attribute.find((a) => a.name === 'transB')?.i ?? 0);
      }
      weight.uses.push(use);
    });
  }
  return weights;
}
