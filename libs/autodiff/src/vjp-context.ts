import {
  dtypeToOnnx,
  isStaticShape,
  sameShape,
  type AttributeInput,
  type Graph,
  type Node,
  type Value,
} from '@ringtrain/graph';

/** Error for a graph that cannot be differentiated: an op without a rule, an unsupported input. */
export class GradientError extends Error {
  override name = 'GradientError';
}

/**
 * One forward node as a vector-Jacobian rule reads it, with helpers that add the backward ops
 * to the same graph under names derived from the node's name.
 */
export class VjpContext {
  constructor(
    readonly graph: Graph,
    readonly node: Node,
    /** Cotangent of each output; undefined where the loss does not depend on that output. */
    readonly gradOutputs: readonly (Value | undefined)[],
    private readonly needs: readonly boolean[],
  ) {}

  /** Returns input `index` of the forward node; throws when the optional input is absent. */
  input(index: number): Value {
    const value = this.node.inputs[index];
    if (value === undefined) throw this.fail(`input #${index} is absent`);
    return value;
  }

  /** Returns output `index` of the forward node. */
  output(index: number): Value {
    return this.node.outputs[index]!;
  }

  /** Returns the cotangent of output `index`; throws when the loss does not depend on it. */
  gradOutput(index = 0): Value {
    const value = this.gradOutputs[index];
    if (value === undefined) throw this.fail(`output #${index} has no cotangent`);
    return value;
  }

  /** Returns whether the walk needs the gradient of input `index`. */
  needsGradient(index: number): boolean {
    return this.needs[index] ?? false;
  }

  /** Returns the integer attribute `name`, or `fallback` when it is not set. */
  int(name: string, fallback: number): number {
    const a = this.node.attributes[name];
    return a?.type === 'int' ? a.value : fallback;
  }

  /** Returns the float attribute `name`, or `fallback` when it is not set. */
  float(name: string, fallback: number): number {
    const a = this.node.attributes[name];
    return a?.type === 'float' ? a.value : fallback;
  }

  /** Returns the integer list attribute `name`, or undefined when it is not set. */
  ints(name: string): number[] | undefined {
    const a = this.node.attributes[name];
    return a?.type === 'ints' ? a.value : undefined;
  }

  /** Returns the string attribute `name`, or `fallback` when it is not set. */
  string(name: string, fallback: string): string {
    const a = this.node.attributes[name];
    return a?.type === 'string' ? a.value : fallback;
  }

  /** Adds a backward op and returns its first output. */
  op(opType: string, inputs: readonly (Value | undefined)[], attributes: Record<string, AttributeInput> = {}): Value {
    return this.ops(opType, inputs, attributes, 1)[0]!;
  }

  /** Adds a backward op with `outputs` outputs. */
  ops(
    opType: string,
    inputs: readonly (Value | undefined)[],
    attributes: Record<string, AttributeInput>,
    outputs: number,
  ): Value[] {
    const name = `grad/${this.node.name}/${opType}`;
    return this.graph.node(opType, inputs, attributes, { name, outputs });
  }

  add(a: Value, b: Value): Value {
    return this.op('Add', [a, b]);
  }

  sub(a: Value, b: Value): Value {
    return this.op('Sub', [a, b]);
  }

  mul(a: Value, b: Value): Value {
    return this.op('Mul', [a, b]);
  }

  div(a: Value, b: Value): Value {
    return this.op('Div', [a, b]);
  }

  neg(a: Value): Value {
    return this.op('Neg', [a]);
  }

  /** Adds a 0-d constant with the dtype of `like`. */
  scalar(value: number, like: Value): Value {
    return this.graph.scalar(value, like.dtype, `grad/${this.node.name}/const`);
  }

  /** Adds a 1-D int64 constant (axes, shapes, split sizes). */
  int64s(values: readonly number[]): Value {
    return this.graph.int64s(values, `grad/${this.node.name}/ints`);
  }

  /** Returns `x`'s shape as an int64 value: a constant when static, else a Shape op. */
  shapeOf(x: Value): Value {
    return isStaticShape(x.shape) ? this.int64s(x.shape) : this.op('Shape', [x]);
  }

  /** Reshapes `value` to the shape of `like`. */
  reshapeLike(value: Value, like: Value): Value {
    if (sameShape(value.shape, like.shape)) return value;
    return this.op('Reshape', [value, this.shapeOf(like)]);
  }

  /** Casts `value` to the dtype of `like`. */
  castLike(value: Value, like: Value): Value {
    return this.op('Cast', [value], { to: dtypeToOnnx(like.dtype) });
  }

  /**
   * Sums a gradient computed at the broadcast shape back to the shape of the input `target`:
   * ReduceSum with keepdims over the stretched axes, then Reshape to drop the leading ones.
   */
  unbroadcast(grad: Value, target: Value): Value {
    if (sameShape(grad.shape, target.shape)) return grad;
    const lead = grad.shape.length - target.shape.length;
    const axes: number[] = [];
    grad.shape.forEach((dim, axis) => {
      if (axis < lead || (target.shape[axis - lead] === 1 && dim !== 1)) axes.push(axis);
    });
    const reduced = axes.length === 0 ? grad : this.op('ReduceSum', [grad, this.int64s(axes)], { keepdims: 1 });
    return this.reshapeLike(reduced, target);
  }

  /** Returns a GradientError naming this node. */
  fail(message: string): GradientError {
    return new GradientError(`gradient of ${this.node.opType} node '${this.node.name}': ${message}`);
  }
}
