import {
  formatShape,
  isFloatDType,
  sameShape,
  scalarTensor,
  tensor,
  type Graph,
  type Node,
  type Value,
} from '@ringtrain/graph';
import { checkQuantizedReader, isQuantizer, rangeGradientError, straightThroughGradient } from './straight-through.js';
import { GradientError, VjpContext } from './vjp-context.js';
import { VJP_RULES, type VjpRule } from './vjp-rules.js';

/** Request for gradients: a `loss`, `seeds`, or both, and the values to differentiate. */
export interface GradientRequest {
  /** A scalar (or single-element) loss; its cotangent is 1. */
  loss?: Value;
  /** Cotangents for values of the graph, each of its value's dtype and shape. */
  seeds?: readonly (readonly [value: Value, cotangent: Value])[];
  /** Values to differentiate with respect to, typically the parameters (graph inputs). */
  wrt: readonly Value[];
  /**
   * Rules to use on top of (or instead of) {@link VJP_RULES}.
   * @defaultValue none
   */
  rules?: Readonly<Record<string, VjpRule>>;
}

/**
 * Adds the reverse-mode gradient of a loss (or of seeded cotangents) with respect to `wrt` to
 * the graph, and returns one gradient per entry of `wrt`, in order. Nodes are visited in reverse
 * topological order. A value used more than once gets the sum of its cotangents. Integer,
 * boolean and constant values get none. A `wrt` value that the loss does not depend on gets a
 * zero gradient. A fake quantiser, a QuantizeLinear or DynamicQuantizeLinear whose integer
 * output a DequantizeLinear with the same scale and zero point reads back, gets the
 * straight-through gradient (see straight-through.ts).
 *
 * @throws GradientError when a node between `wrt` and the loss has an op without a rule, when
 *   the loss is not a scalar, when a seed's shape differs from its value's, or when a quantiser
 *   of a value that needs a gradient is used other than as a fake quantiser
 */
export function buildGradients(graph: Graph, request: GradientRequest): Value[] {
  const rules = { ...VJP_RULES, ...request.rules };
  const forward = [...graph.nodes];
  const cotangents = new Map<Value, Value[]>();
  const addCotangent = (value: Value, cotangent: Value) => {
    const list = cotangents.get(value);
    if (list === undefined) cotangents.set(value, [cotangent]);
    else list.push(cotangent);
  };

  // Seed the loss with 1 and add the caller's cotangents.
  if (request.loss !== undefined) {
    const { loss } = request;
    if (!loss.shape.every((dim) => dim === 1)) {
      throw new GradientError(
        `the loss '${loss.name}' must be a scalar, got shape ${formatShape(loss.shape)}; ` +
          `reduce it or pass seeds`,
      );
    }
    const one = loss.shape.length === 0
      ? scalarTensor(loss.dtype, 1)
      : tensor(loss.dtype, loss.shape as number[], [1]);
    addCotangent(loss, graph.constant(one, 'grad/seed'));
  }
  for (const [value, cotangent] of request.seeds ?? []) {
    if (!sameShape(value.shape, cotangent.shape) || value.dtype !== cotangent.dtype) {
      throw new GradientError(
        `the seed for '${value.name}' is ${cotangent.dtype} ${formatShape(cotangent.shape)}, ` +
          `expected ${value.dtype} ${formatShape(value.shape)}`,
      );
    }
    addCotangent(value, cotangent);
  }

  // Forward pass over the nodes: which values depend on a wrt value. Float values do, and the
  // integer output of a quantiser of such a value, which its DequantizeLinear reads back.
  const dependsOnWrt = new Set<Value>(request.wrt.filter((v) => isFloatDType(v.dtype)));
  for (const node of forward) {
    const dependent = node.inputs.filter((input): input is Value => input !== undefined && dependsOnWrt.has(input));
    if (dependent.length === 0) continue;
    for (const input of dependent) if (!isFloatDType(input.dtype)) checkQuantizedReader(node, input);
    for (const output of node.outputs) if (isFloatDType(output.dtype)) dependsOnWrt.add(output);
    if (isQuantizer(node) && dependsOnWrt.has(node.inputs[0]!)) dependsOnWrt.add(node.outputs[0]!);
  }

  // Reverse pass: each node with a cotangent on an output and an input that needs a gradient.
  const summed = new Map<Value, Value>();
  const total = (value: Value): Value | undefined => {
    const done = summed.get(value);
    if (done !== undefined) return done;
    const list = cotangents.get(value);
    if (list === undefined) return undefined;
    const sum = list.length === 1 ? list[0]! : graph.op('Sum', list, {}, { name: `grad/${value.name}/sum` });
    summed.set(value, sum);
    return sum;
  };
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i]!;
    const gradOutputs = node.outputs.map(total);
    if (gradOutputs.every((g) => g === undefined)) continue;
    const needs = node.inputs.map((input) => input !== undefined && dependsOnWrt.has(input));
    if (!needs.some(Boolean)) continue;
    if (isQuantizer(node)) throw rangeGradientError(node);
    if (node.opType === 'DequantizeLinear' && rules['DequantizeLinear'] === undefined) {
      const { input, gradient } = straightThroughGradient(new VjpContext(graph, node, gradOutputs, needs));
      checkGradient(node, 0, input, gradient);
      addCotangent(input, gradient);
      continue;
    }
    const rule = rules[node.opType];
    if (rule === undefined) throw missingRule(node);
    const grads = rule(new VjpContext(graph, node, gradOutputs, needs));
    node.inputs.forEach((input, k) => {
      const grad = grads[k];
      if (input === undefined || !needs[k] || grad === undefined) return;
      checkGradient(node, k, input, grad);
      addCotangent(input, grad);
    });
  }

  return request.wrt.map((value) => total(value) ?? zerosLike(graph, value));
}

function missingRule(node: Node): GradientError {
  return new GradientError(
    `no gradient rule for op '${node.opType}' (node '${node.name}'); add one to libs/autodiff ` +
      `VJP_RULES (or pass it in rules) or mark its inputs as constant`,
  );
}

function checkGradient(node: Node, index: number, input: Value, grad: Value): void {
  if (!sameShape(input.shape, grad.shape) || input.dtype !== grad.dtype) {
    throw new GradientError(
      `the ${node.opType} rule returned ${grad.dtype} ${formatShape(grad.shape)} for input ` +
        `#${index} '${input.name}' of node '${node.name}', which is ${input.dtype} ` +
        `${formatShape(input.shape)}`,
    );
  }
}

function zerosLike(graph: Graph, value: Value): Value {
  const shape = graph.op('Shape', [value], {}, { name: `grad/${value.name}/shape` });
  return graph.op('ConstantOfShape', [shape], { value: tensor(value.dtype, [1], [0]) }, {
    name: `grad/${value.name}/zeros`,
  });
}
