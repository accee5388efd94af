import type { Graph, Value } from './graph.js';

/*
 * Functions that newer opsets have as single ops, written with opset 17 ops. ONNX's Gelu needs
 * opset 20 (onnxruntime-node 1.30 rejects it at 17), so GELU is built from Erf or Tanh. Every
 * op used here has a gradient rule in libs/autodiff.
 */

/** Adds a 0-d constant with the dtype of `like`, for arithmetic with `like`. */
export function scalarLike(graph: Graph, like: Value, value: number, nameHint = 'const'): Value {
  return graph.scalar(value, like.dtype, nameHint);
}

/** Adds GELU with the exact Erf form: `0.5 * x * (1 + erf(x / sqrt(2)))` (PyTorch's default). */
export function gelu(graph: Graph, x: Value): Value {
  const scaled = graph.op('Mul', [x, scalarLike(graph, x, Math.SQRT1_2, 'gelu_rsqrt2')]);
  const erf = graph.op('Erf', [scaled]);
  const onePlus = graph.op('Add', [erf, scalarLike(graph, x, 1, 'gelu_one')]);
  const half = graph.op('Mul', [x, scalarLike(graph, x, 0.5, 'gelu_half')]);
  return graph.op('Mul', [half, onePlus]);
}

/**
 * Adds GELU with the Tanh approximation:
 * `0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))` (GPT-2's form).
 */
export function geluTanh(graph: Graph, x: Value): Value {
  const cube = graph.op('Mul', [graph.op('Mul', [x, x]), x]);
  const inner = graph.op('Add', [x, graph.op('Mul', [cube, scalarLike(graph, x, 0.044715, 'gelu_c')])]);
  const scaled = graph.op('Mul', [inner, scalarLike(graph, x, Math.sqrt(2 / Math.PI), 'gelu_k')]);
  const onePlus = graph.op('Add', [graph.op('Tanh', [scaled]), scalarLike(graph, x, 1, 'gelu_one')]);
  const half = graph.op('Mul', [x, scalarLike(graph, x, 0.5, 'gelu_half')]);
  return graph.op('Mul', [half, onePlus]);
}

/** Adds SiLU (swish): `x * sigmoid(x)`. */
export function silu(graph: Graph, x: Value): Value {
  return graph.op('Mul', [x, graph.op('Sigmoid', [x])]);
}
