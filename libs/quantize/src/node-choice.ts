import { onnx } from '@ringtrain/proto';

/** Options that choose nodes by name, shared by every quantisation mode. */
export interface NodeChoice {
  /** Names of the nodes to quantise; unset: every eligible node. */
  include?: readonly string[];
  /** Names of nodes to leave in float. */
  exclude?: readonly string[];
}

/** A node left in float, with the reason. */
export interface SkippedNode {
  node: string;
  op: string;
  reason: string;
}

/**
 * Returns a test of whether a node is chosen by `include` and `exclude`.
 *
 * @throws Error when either list names a node that the graph does not have
 */
export function nodeChooser(graph: onnx.GraphProto, choice: NodeChoice): (node: onnx.NodeProto) => boolean {
  const include = choice.include === undefined ? undefined : new Set(choice.include);
  const exclude = new Set(choice.exclude ?? []);
  const names = new Set(graph.node.map((n) => n.name));
  for (const name of [...(include ?? []), ...exclude]) {
    if (!names.has(name)) throw new Error(`the model has no node named '${name}'; node names: ${[...names].slice(0, 12).join(', ')}`);
  }
  return (node) => (include === undefined || include.has(node.name)) && !exclude.has(node.name);
}

export function intAttribute(node: onnx.NodeProto, name: string, fallback: number): number {
  const a = node.attribute.find((x) => x.name === name);
  return a === undefined ? fallback : Number(a.i);
}

export function floatAttribute(node: onnx.NodeProto, name: string, fallback: number): number {
  const a = node.attribute.find((x) => x.name === name);
  return a === undefined ? fallback : a.f;
}

/** Returns why a MatMul or Gemm cannot take an int8 weight, or undefined when it can. */
export function matMulIneligible(node: onnx.NodeProto, weights: Map<string, onnx.TensorProto>): string | undefined {
  const weight = weights.get(node.input[1] ?? '');
  if (weight === undefined) return 'its second input is computed, not a stored weight';
  if (weight.dataType !== onnx.TensorProto_DataType.FLOAT) return 'its weight is not float32';
  if (weight.dims.length !== 2) return `its weight has rank ${weight.dims.length}, not 2`;
  if (node.opType === 'Gemm') {
    if (intAttribute(node, 'transA', 0) !== 0) return 'Gemm with transA=1';
    if (floatAttribute(node, 'alpha', 1) !== 1 || floatAttribute(node, 'beta', 1) !== 1) return 'Gemm with alpha or beta other than 1';
  }
  return undefined;
}
