import { endianness } from 'node:os';
import { onnx } from '@ringtrain/proto';
import type { Attribute } from './attributes.js';
import { dtypeBytes, dtypeToOnnx } from './dtype.js';
import type { Graph, Value } from './graph.js';
import type { TensorData } from './tensor.js';

/** The ONNX IR version that ringtrain writes. */
export const IR_VERSION = 8;
/** The default-domain opset that ringtrain writes; GELU and friends are composed from Erf or Tanh. */
export const OPSET_VERSION = 17;

/** Options of {@link serializeModel}. */
export interface ModelOptions {
  /** Entries of the model's `metadata_props`, e.g. `vocab`. */
  metadata?: Readonly<Record<string, string>>;
  /** @defaultValue `'ringtrain'` */
  producerName?: string;
  producerVersion?: string;
  docString?: string;
}

/**
 * Converts a graph to an ONNX ModelProto (IR version 8, opset 17). Symbolic dimensions are
 * written as `dim_param`, and initializers as little-endian `raw_data`.
 *
 * @throws Error when the graph has no outputs
 */
export function toModelProto(graph: Graph, options: ModelOptions = {}): onnx.ModelProto {
  if (graph.outputs.length === 0) {
    throw new Error(`graph '${graph.name}' has no outputs; mark them with Graph.output`);
  }
  const domains = new Set(graph.nodes.map((node) => node.domain).filter((d) => d !== ''));
  return onnx.ModelProto.fromPartial({
    irVersion: IR_VERSION,
    opsetImport: [
      { domain: '', version: OPSET_VERSION },
      ...[...domains].map((domain) => ({ domain, version: 1 })),
    ],
    producerName: options.producerName ?? 'ringtrain',
    producerVersion: options.producerVersion ?? '',
    docString: options.docString ?? '',
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
      initializer: graph.initializers.map((value) => tensorProto(value.name, value.data!)),
      node: graph.nodes.map((node) => ({
        name: node.name,
        opType: node.opType,
        domain: node.domain,
        input: inputNames(node.inputs),
        output: node.outputs.map((output) => output.name),
        attribute: Object.entries(node.attributes).map(([name, a]) => attributeProto(name, a)),
      })),
    },
  });
}

/** Serialises a graph to ONNX model bytes that onnxruntime loads; see {@link toModelProto}. */
export function serializeModel(graph: Graph, options: ModelOptions = {}): Uint8Array {
  return onnx.ModelProto.encode(toModelProto(graph, options)).finish();
}

function valueInfo(value: Value): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.fromPartial({
    name: value.name,
    type: {
      tensorType: {
        elemType: dtypeToOnnx(value.dtype),
        shape: {
          dim: value.shape.map((dim) =>
            typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim },
          ),
        },
      },
    },
  });
}

/**
 * Encodes a tensor as a TensorProto with little-endian `raw_data` (strings go to `string_data`,
 * which has no raw form).
 */
export function tensorProto(name: string, t: TensorData): onnx.TensorProto {
  const base = { name, dims: [...t.shape], dataType: dtypeToOnnx(t.dtype) };
  if (t.dtype === 'string') {
    return onnx.TensorProto.fromPartial({
      ...base,
      stringData: (t.data as string[]).map((s) => Buffer.from(s, 'utf8')),
    });
  }
  // NOTE: typed arrays use the platform's byte order. Every platform onnxruntime-node ships for
  // is little-endian, and this check keeps a big-endian port from writing corrupt models.
  if (endianness() !== 'LE') throw new Error('writing raw_data needs a little-endian platform');
  const view = t.data as Exclude<TensorData['data'], string[]>;
  const expected = view.length * dtypeBytes(t.dtype);
  const rawData = Buffer.from(new Uint8Array(view.buffer, view.byteOffset, expected));
  return onnx.TensorProto.fromPartial({ ...base, rawData });
}

function attributeProto(name: string, a: Attribute): onnx.AttributeProto {
  const T = onnx.AttributeProto_AttributeType;
  switch (a.type) {
    case 'int':
      return onnx.AttributeProto.fromPartial({ name, type: T.INT, i: a.value });
    case 'float':
      return onnx.AttributeProto.fromPartial({ name, type: T.FLOAT, f: a.value });
    case 'string':
      return onnx.AttributeProto.fromPartial({ name, type: T.STRING, s: Buffer.from(a.value, 'utf8') });
    case 'tensor':
      return onnx.AttributeProto.fromPartial({ name, type: T.TENSOR, t: tensorProto('', a.value) });
    case 'ints':
      return onnx.AttributeProto.fromPartial({ name, type: T.INTS, ints: a.value });
    case 'floats':
      return onnx.AttributeProto.fromPartial({ name, type: T.FLOATS, floats: a.value });
    case 'strings':
      return onnx.AttributeProto.fromPartial({
        name,
        type: T.STRINGS,
        strings: a.value.map((s) => Buffer.from(s, 'utf8')),
      });
  }
}

/**
 * Names of a node's inputs, with '' for an absent optional input. Absent inputs at the end are
 * left out: onnxruntime-node 1.30 crashes on a LayerNormalization whose bias is written as ''.
 */
function inputNames(inputs: readonly ({ name: string } | undefined)[]): string[] {
  const names = inputs.map((input) => input?.name ?? '');
  while (names.length > 0 && names[names.length - 1] === '') names.pop();
  return names;
}
