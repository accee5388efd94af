import { toAttribute, type Attribute, type AttributeInput, type Attributes } from './attributes.js';
import type { DType } from './dtype.js';
import { inferenceContext, type OutputType } from './infer-context.js';
import { OP_SCHEMAS } from './op-schemas.js';
import { formatShape, ShapeError, type Dim, type Shape } from './shape.js';
import { scalarTensor, tensor, type TensorData } from './tensor.js';

/** Origin of a value. */
export type ValueKind = 'input' | 'initializer' | 'node';

/** A typed tensor value of a graph: a graph input, an initializer or a node output. */
export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Dim[];
  readonly kind: ValueKind;
  /** Node that computes the value, for kind `'node'`. */
  readonly producer?: Node;
  /** Data of an initializer or of a `Constant` node's output. */
  readonly data?: TensorData;
  /**
   * Known elements of a 1-D int64 value such as the output of `Shape`, with symbols for
   * dimensions known only at run time. `Reshape` and `Expand` infer their output shapes from it.
   */
  readonly elements?: readonly Dim[];
}

/** An operator application. Absent optional inputs are `undefined` (written as `''` in ONNX). */
export interface Node {
  readonly name: string;
  readonly opType: string;
  /** Operator set domain; `''` is the default ONNX domain. */
  readonly domain: string;
  readonly inputs: readonly (Value | undefined)[];
  readonly outputs: readonly Value[];
  readonly attributes: Attributes;
}

/** Options of {@link Graph.node}. */
export interface NodeOptions {
  /** Node name; a unique one is derived from the op type when absent or taken. */
  name?: string;
  /**
   * Number of outputs, or their names.
   * @defaultValue the op's required outputs (1 for most ops)
   */
  outputs?: number | readonly string[];
  /** Output types for an op that has no schema here; ops with a schema ignore it. */
  outputTypes?: readonly OutputType[];
  /** @defaultValue `''`, the default ONNX domain */
  domain?: string;
}

/**
 * A graph under construction. Every node's output dtypes and shapes are inferred when the node is
 * added, so a shape mistake fails at the line that makes it, with a {@link ShapeError} naming the
 * op, the node and the input shapes.
 */
export class Graph {
  readonly inputs: Value[] = [];
  readonly initializers: Value[] = [];
  readonly nodes: Node[] = [];
  readonly outputs: Value[] = [];
  private readonly valueNames = new Set<string>();
  private readonly nodeNames = new Set<string>();

  constructor(readonly name = 'main') {}

  /**
   * Adds a graph input.
   *
   * @throws Error when the name is already used by another value
   */
  input(name: string, dtype: DType, shape: Shape): Value {
    const value: Value = { name: this.claimName(name), dtype, shape: [...shape], kind: 'input' };
    this.inputs.push(value);
    return value;
  }

  /**
   * Adds an initializer: a named tensor with data, written to ONNX as a graph initializer.
   *
   * @throws Error when the name is already used by another value
   */
  initializer(name: string, data: TensorData): Value {
    const value: Value = {
      name: this.claimName(name),
      dtype: data.dtype,
      shape: [...data.shape],
      kind: 'initializer',
      data,
      ...(data.dtype === 'int64' && data.shape.length === 1
        ? { elements: Array.from(data.data as BigInt64Array, Number) }
        : {}),
    };
    this.initializers.push(value);
    return value;
  }

  /** Adds a constant tensor as an initializer under a fresh name derived from `nameHint`. */
  constant(data: TensorData, nameHint = 'const'): Value {
    return this.initializer(this.uniqueValueName(nameHint), data);
  }

  /** Adds a 0-d constant of `dtype`. */
  scalar(value: number, dtype: DType, nameHint = 'const'): Value {
    return this.constant(scalarTensor(dtype, value), nameHint);
  }

  /** Adds a 1-D int64 constant, the form ONNX takes for shapes, axes and split sizes. */
  int64s(values: readonly number[], nameHint = 'const'): Value {
    return this.constant(tensor('int64', [values.length], values), nameHint);
  }

  /**
   * Adds a node and returns its outputs.
   *
   * @param inputs - inputs in the op's order; `undefined` skips an optional input
   * @param attributes - attributes by name, typed by the op's schema
   * @throws ShapeError when the op does not accept the inputs' shapes or dtypes, when an
   *   attribute is unknown or mistyped, or when the op has no schema and no `outputTypes`
   */
  node(
    opType: string,
    inputs: readonly (Value | undefined)[],
    attributes: Readonly<Record<string, AttributeInput>> = {},
    options: NodeOptions = {},
  ): Value[] {
    const domain = options.domain ?? '';
    const name = this.uniqueNodeName(options.name ?? opType.toLowerCase());
    for (const input of inputs) {
      if (input !== undefined && !this.owns(input)) {
        throw new Error(`input '${input.name}' of ${opType} node '${name}' is not in this graph`);
      }
    }
    const schema = domain === '' ? OP_SCHEMAS[opType] : undefined;
    let typed: Record<string, Attribute>;
    let outputTypes: OutputType[];
    if (schema === undefined) {
      if (options.outputTypes === undefined) {
        throw new ShapeError(
          `no shape inference for op '${opType}' (node '${name}'); add a schema to libs/graph ` +
            `op-schemas.ts or pass outputTypes`,
        );
      }
      typed = untypedAttributes(opType, name, attributes);
      outputTypes = [...options.outputTypes];
    } else {
      typed = typeAttributes(opType, name, attributes, schema.attributes);
      const outputCount = countOutputs(options.outputs, schema.outputs[0]);
      if (outputCount < schema.outputs[0] || outputCount > schema.outputs[1]) {
        throw new ShapeError(
          `${opType} node '${name}' takes ${schema.outputs[0]} to ${schema.outputs[1]} ` +
            `outputs, got ${outputCount}`,
        );
      }
      const ctx = inferenceContext(opType, name, inputs, typed, outputCount, schema.inputs);
      try {
        outputTypes = schema.infer(ctx).slice(0, outputCount);
      } catch (error) {
        if (!(error instanceof ShapeError) || error.message.startsWith(`${opType} node '`)) {
          throw error;
        }
        throw new ShapeError(`${opType} node '${name}': ${error.message}; ${describe(inputs)}`);
      }
    }

    const outputNames = Array.isArray(options.outputs)
      ? [...(options.outputs as string[])]
      : autoOutputNames(name, outputTypes.length).map((n) => this.uniqueValueName(n));
    const outputs: Value[] = [];
    const node: Node = { name, opType, domain, inputs: [...inputs], outputs, attributes: typed };
    outputTypes.forEach((type, i) => {
      outputs.push({
        name: this.claimName(outputNames[i]!),
        dtype: type.dtype,
        shape: [...type.shape],
        kind: 'node',
        producer: node,
        ...(type.data === undefined ? {} : { data: type.data }),
        ...(type.elements === undefined ? {} : { elements: [...type.elements] }),
      });
    });
    this.nodes.push(node);
    return outputs;
  }

  /** Adds a node and returns its first output; see {@link Graph.node}. */
  op(
    opType: string,
    inputs: readonly (Value | undefined)[],
    attributes: Readonly<Record<string, AttributeInput>> = {},
    options: NodeOptions = {},
  ): Value {
    return this.node(opType, inputs, attributes, options)[0]!;
  }

  /**
   * Marks `value` as a graph output. With a `name` that differs from the value's name, an
   * Identity node gives the output that name.
   *
   * @returns the output value
   * @throws Error when the value is not in this graph or is already an output
   */
  output(value: Value, name?: string): Value {
    if (!this.owns(value)) throw new Error(`output '${value.name}' is not in this graph`);
    let out = value;
    if (name !== undefined && name !== value.name) {
      out = this.op('Identity', [value], {}, { name, outputs: [name] });
    }
    if (this.outputs.includes(out)) throw new Error(`'${out.name}' is already a graph output`);
    this.outputs.push(out);
    return out;
  }

  /** Returns a value name derived from `hint` that no value of this graph uses yet. */
  uniqueValueName(hint: string): string {
    return uniqueName(hint, this.valueNames);
  }

  /** Returns every value of the graph: inputs, initializers, then node outputs in node order. */
  values(): Value[] {
    return [...this.inputs, ...this.initializers, ...this.nodes.flatMap((node) => node.outputs)];
  }

  private owns(value: Value): boolean {
    if (value.kind === 'input') return this.inputs.includes(value);
    if (value.kind === 'initializer') return this.initializers.includes(value);
    return value.producer !== undefined && this.nodes.includes(value.producer);
  }

  private claimName(name: string): string {
    if (name === '') throw new Error('a value name must not be empty');
    if (this.valueNames.has(name)) {
      throw new Error(`value name '${name}' is already used in graph '${this.name}'`);
    }
    this.valueNames.add(name);
    return name;
  }

  private uniqueNodeName(hint: string): string {
    const name = uniqueName(hint, this.nodeNames);
    this.nodeNames.add(name);
    return name;
  }
}

function uniqueName(hint: string, taken: ReadonlySet<string>): string {
  if (!taken.has(hint)) return hint;
  for (let i = 1; ; i++) {
    const candidate = `${hint}_${i}`;
    if (!taken.has(candidate)) return candidate;
  }
}

function countOutputs(outputs: NodeOptions['outputs'], required: number): number {
  if (outputs === undefined) return required;
  return typeof outputs === 'number' ? outputs : outputs.length;
}

function autoOutputNames(node: string, count: number): string[] {
  if (count === 1) return [node];
  return Array.from({ length: count }, (_, i) => `${node}_out${i}`);
}

function typeAttributes(
  opType: string,
  node: string,
  attributes: Readonly<Record<string, AttributeInput>>,
  declared: Readonly<Record<string, Attribute['type']>>,
): Record<string, Attribute> {
  const typed: Record<string, Attribute> = {};
  for (const [key, value] of Object.entries(attributes)) {
    const type = declared[key];
    if (type === undefined) {
      const known = Object.keys(declared);
      throw new ShapeError(
        `${opType} node '${node}' has no attribute '${key}'; ` +
          (known.length === 0 ? 'it takes none' : `it takes ${known.join(', ')}`),
      );
    }
    const attribute = toAttribute(value, type);
    if (typeof attribute === 'string') {
      throw new ShapeError(`attribute '${key}' of ${opType} node '${node}': ${attribute}`);
    }
    typed[key] = attribute;
  }
  return typed;
}

function untypedAttributes(
  opType: string,
  node: string,
  attributes: Readonly<Record<string, AttributeInput>>,
): Record<string, Attribute> {
  const typed: Record<string, Attribute> = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value !== 'object' || !('type' in value) || 'dtype' in value) {
      throw new ShapeError(
        `attribute '${key}' of ${opType} node '${node}' needs an explicit type ` +
          `({ type, value }) because the op has no schema`,
      );
    }
    typed[key] = value;
  }
  return typed;
}

function describe(inputs: readonly (Value | undefined)[]): string {
  const parts = inputs.map((input, i) =>
    input === undefined
      ? `#${i} absent`
      : `#${i} '${input.name}' ${input.dtype} ${formatShape(input.shape)}`,
  );
  return `inputs ${parts.join(', ')}`;
}
