import { tensor, tensorProto, type TensorData } from '@ringtrain/graph';
import { onnx } from '@ringtrain/proto';
import type { QuantParams, QuantType } from './quantize-math.js';

const T = onnx.AttributeProto_AttributeType;

/** The three inputs of a DequantizeLinear: quantised values, scale and zero point. */
export type QuantizedValue = [values: string, scale: string, zeroPoint: string];

/**
 * Writes QuantizeLinear and DequantizeLinear nodes and their initializers into a node list. Each
 * activation is quantised once, by the first call that requests it, and every new name is
 * checked against the names the model already has.
 */
export class QdqWriter {
  readonly nodes: onnx.NodeProto[] = [];
  readonly initializers: onnx.TensorProto[] = [];
  private readonly activations = new Map<string, QuantizedValue>();
  private readonly names: Set<string>;

  constructor(graph: onnx.GraphProto) {
    this.names = new Set([
      ...graph.node.flatMap((n) => [n.name, ...n.input, ...n.output]),
      ...graph.initializer.map((t) => t.name),
      ...graph.input.map((v) => v.name),
    ]);
  }

  /** Returns the quantised form of an activation, when it has one already. */
  quantized(tensorName: string): QuantizedValue | undefined {
    return this.activations.get(tensorName);
  }

  /**
   * Adds a QuantizeLinear of activation `tensorName`, reading `source` (the tensor itself, or the
   * float output of a node whose output the tensor becomes), with scalar scale and zero point.
   */
  quantizeActivation(tensorName: string, params: QuantParams & { type: QuantType }, source = tensorName): QuantizedValue {
    const value: QuantizedValue = [this.fresh(`${tensorName}/quantized`), this.fresh(`${tensorName}/scale`), this.fresh(`${tensorName}/zero_point`)];
    this.addInitializer(value[1], tensor('float32', [], [params.scale]));
    this.addInitializer(value[2], tensor(params.type, [], [params.zeroPoint]));
    this.nodes.push(onnx.NodeProto.fromPartial({ name: this.fresh(`${tensorName}/quantize`), opType: 'QuantizeLinear', input: [source, value[1], value[2]], output: [value[0]] }));
    this.activations.set(tensorName, value);
    return value;
  }

  /**
   * Adds stored quantised values `prefix/quantized` with their scale and zero point (one per
   * slice along `axis`, or scalars), and returns the three names.
   */
  storeQuantized(prefix: string, values: TensorData, scales: Float32Array, zeroPoints: TensorData, axis: number | undefined): QuantizedValue {
    const value: QuantizedValue = [this.fresh(`${prefix}/quantized`), this.fresh(`${prefix}/scale`), this.fresh(`${prefix}/zero_point`)];
    this.addInitializer(value[0], values);
    this.addInitializer(value[1], tensor('float32', axis === undefined ? [] : [scales.length], scales));
    this.addInitializer(value[2], zeroPoints);
    return value;
  }

  /** Adds a DequantizeLinear named `prefix/dequantize` and returns its output, named `output` or `prefix/dequantized`. */
  dequantize(prefix: string, value: QuantizedValue, axis: number | undefined, output?: string): string {
    const out = output ?? this.fresh(`${prefix}/dequantized`);
    const attribute = axis === undefined ? [] : [onnx.AttributeProto.fromPartial({ name: 'axis', type: T.INT, i: axis })];
    this.nodes.push(onnx.NodeProto.fromPartial({ name: this.fresh(`${prefix}/dequantize`), opType: 'DequantizeLinear', input: [...value], output: [out], attribute }));
    return out;
  }

  /** Reserves a new name for a value or node. */
  fresh(name: string): string {
    if (this.names.has(name)) throw new Error(`the model already has a value or node named '${name}', which quantisation needs for a new one; rename it`);
    this.names.add(name);
    return name;
  }

  private addInitializer(name: string, data: TensorData): void {
    this.initializers.push(tensorProto(name, data));
  }
}
