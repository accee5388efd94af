import { endianness } from 'node:os';
import { onnx } from '@ringtrain/proto';
import type { Attribute } from './attributes.js';
import { allocateArray, dtypeBytes, dtypeFromOnnx, type DType } from './dtype.js';
import { Graph, type Value } from './graph.js';
import { OPSET_VERSION } from './onnx-writer.js';
import type { Dim } from './shape.js';
import { tensor, type TensorData } from './tensor.js';

/** Oldest default-domain opset whose ops the schemas here describe the same way as opset 17. */
const MIN_OPSET = 13;

/** A model read from ONNX bytes. */
export interface ParsedModel {
  graph: Graph;
  /** The model's `metadata_props`. */
  metadata: Record<string, string>;
  /** Default-domain opset the file imports. */
  opset: number;
  irVersion: number;
  producerName: string;
}

/** Error for an ONNX file that ringtrain cannot read: a bad encoding, unsupported content. */
export class OnnxFormatError extends Error {
  override name = 'OnnxFormatError';
}

/**
 * Reads only the `metadata_props` of an ONNX model, without its graph, so that it works on
 * models with ops that ringtrain has no shape inference for.
 *
 * @throws OnnxFormatError when the bytes are not an ONNX model
 */
export function readModelMetadata(bytes: Uint8Array): Record<string, string> {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new OnnxFormatError(`not an ONNX model: ${(error as Error).message}`);
  }
  if (model.graph === undefined) throw new OnnxFormatError('the ONNX model has no graph');
  return Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
}

/**
 * Parses ONNX model bytes into a {@link Graph}, inferring every node's shapes again. Reads what
 * {@link serializeModel} writes and PyTorch exports of opset 13 to 17.
 *
 * @throws OnnxFormatError when the bytes are not a model, the opset is outside 13 to 17, or a
 *   tensor uses external data
 * @throws ShapeError when a node's op is unknown or its shapes do not fit
 */
export function parseModel(bytes: Uint8Array): ParsedModel {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new OnnxFormatError(`not an ONNX model: ${(error as Error).message}`);
  }
  const proto = model.graph;
  if (proto === undefined) throw new OnnxFormatError('the ONNX model has no graph');
  const opset = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version;
  if (opset === undefined || opset < MIN_OPSET || opset > OPSET_VERSION) {
    throw new OnnxFormatError(
      `the model imports default-domain opset ${opset ?? 'none'}; ringtrain reads ` +
        `opsets ${MIN_OPSET} to ${OPSET_VERSION}, so re-export it with opset ${OPSET_VERSION}`,
    );
  }

  const graph = new Graph(proto.name || 'main');
  const values = new Map<string, Value>();

  // Initializers, then inputs; old IR versions also list initializers as inputs.
  for (const t of proto.initializer) values.set(t.name, graph.initializer(t.name, readTensor(t)));
  for (const input of proto.input) {
    if (values.has(input.name)) continue;
    const [dtype, shape] = readValueType(input);
    values.set(input.name, graph.input(input.name, dtype, shape));
  }

  // Nodes, in the file's order: ONNX requires a topological order.
  for (const [index, node] of proto.node.entries()) {
    const inputs = node.input.map((name) => {
      if (name === '') return undefined;
      const value = values.get(name);
      if (value === undefined) {
        throw new OnnxFormatError(
          `node '${node.name || index}' (${node.opType}) reads '${name}', which no earlier ` +
            `node, input or initializer defines`,
        );
      }
      return value;
    });
    const attributes: Record<string, Attribute> = {};
    for (const a of node.attribute) attributes[a.name] = readAttribute(a, node.name);
    const outputs = graph.node(node.opType, inputs, attributes, {
      name: node.name || node.opType.toLowerCase(),
      outputs: node.output,
      domain: node.domain === 'ai.onnx' ? '' : node.domain,
    });
    for (const output of outputs) values.set(output.name, output);
  }

  for (const output of proto.output) {
    const value = values.get(output.name);
    if (value === undefined) throw new OnnxFormatError(`graph output '${output.name}' is never computed`);
    graph.output(value);
  }
  const metadata: Record<string, string> = {};
  for (const { key, value } of model.metadataProps) metadata[key] = value;
  return { graph, metadata, opset, irVersion: model.irVersion, producerName: model.producerName };
}

function readValueType(info: onnx.ValueInfoProto): [DType, Dim[]] {
  const tensorType = info.type?.tensorType;
  if (tensorType === undefined) throw new OnnxFormatError(`value '${info.name}' is not a tensor`);
  if (tensorType.shape === undefined) {
    throw new OnnxFormatError(`value '${info.name}' has no shape; ringtrain needs the rank`);
  }
  const shape = tensorType.shape.dim.map(
    (dim, i): Dim => dim.dimValue ?? (dim.dimParam || `${info.name}_dim${i}`),
  );
  return [dtypeFromOnnx(tensorType.elemType), shape];
}

/**
 * Decodes a TensorProto's data from `raw_data` or from the typed fields.
 *
 * @throws OnnxFormatError when the data is external or its length does not match the shape
 */
export function readTensor(t: onnx.TensorProto): TensorData {
  const dtype = dtypeFromOnnx(t.dataType);
  if (t.dataLocation === onnx.TensorProto_DataLocation.EXTERNAL) {
    throw new OnnxFormatError(`tensor '${t.name}' uses external data, which ringtrain does not read`);
  }
  const shape = t.dims.map(Number);
  const size = shape.reduce((a, b) => a * b, 1);
  if (t.rawData.length > 0) {
    if (endianness() !== 'LE') throw new OnnxFormatError('reading raw_data needs a little-endian platform');
    if (t.rawData.length !== size * dtypeBytes(dtype)) {
      throw new OnnxFormatError(
        `tensor '${t.name}' has ${t.rawData.length} bytes of raw_data, expected ` +
          `${size * dtypeBytes(dtype)} for ${dtype} [${shape.join(', ')}]`,
      );
    }
    const out = allocateArray(dtype, size) as Exclude<TensorData['data'], string[]>;
    new Uint8Array(out.buffer).set(t.rawData);
    return { dtype, shape, data: out };
  }
  try {
    return tensor(dtype, shape, typedField(t, dtype));
  } catch (error) {
    throw new OnnxFormatError(`tensor '${t.name}': ${(error as Error).message}`);
  }
}

function typedField(t: onnx.TensorProto, dtype: DType): TensorData['data'] | number[] {
  switch (dtype) {
    case 'float32':
      return t.floatData;
    case 'float64':
      return t.doubleData;
    case 'int64':
      return t.int64Data;
    case 'uint32':
    case 'uint64':
      return t.uint64Data;
    case 'string':
      return t.stringData.map((s) => s.toString('utf8'));
    default:
      return t.int32Data;
  }
}

function readAttribute(a: onnx.AttributeProto, node: string): Attribute {
  const T = onnx.AttributeProto_AttributeType;
  switch (a.type) {
    case T.INT:
      return { type: 'int', value: a.i };
    case T.FLOAT:
      return { type: 'float', value: a.f };
    case T.STRING:
      return { type: 'string', value: a.s.toString('utf8') };
    case T.TENSOR:
      if (a.t === undefined) throw new OnnxFormatError(`attribute '${a.name}' of node '${node}' has no tensor`);
      return { type: 'tensor', value: readTensor(a.t) };
    case T.INTS:
      return { type: 'ints', value: [...a.ints] };
    case T.FLOATS:
      return { type: 'floats', value: [...a.floats] };
    case T.STRINGS:
      return { type: 'strings', value: a.strings.map((s) => s.toString('utf8')) };
    default:
      throw new OnnxFormatError(
        `attribute '${a.name}' of node '${node}' has type ${a.type}, which ringtrain does not read`,
      );
  }
}
