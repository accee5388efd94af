import { onnx } from '@ringtrain/proto';
import { intAttribute, matMulIneligible } from './node-choice.js';

/**
 * Whether onnxruntime's CPU provider fuses int8 (signed) activations into MatMul and Conv
 * kernels on this machine. onnxruntime 1.30 allows it on ARM only (`QDQIsInt8Allowed` in
 * qdq_selector_action_transformer.h), so on x86 only QGemm takes them.
 */
const INT8_ACTIVATIONS_FUSE = process.arch === 'arm64' || process.arch === 'arm';

/**
 * Returns why a MatMul, Gemm or Conv cannot be quantised in QDQ form with a fast int8 kernel,
 * or undefined when it can.
 */
export function staticIneligible(node: onnx.NodeProto, weights: Map<string, onnx.TensorProto>, symmetric: boolean): string | undefined {
  if (weights.has(node.input[0] ?? '')) return 'its first input is a stored tensor, not an activation';
  const reason = node.opType === 'Conv' ? convIneligible(node, weights) : matMulIneligible(node, weights);
  if (reason !== undefined) return reason;
  if (symmetric && node.opType !== 'Gemm' && !INT8_ACTIVATIONS_FUSE) {
    return `onnxruntime's ${process.arch} CPU provider fuses int8 activations only into QGemm, so a quantised ${node.opType} would run in float; use asymmetric (uint8) activations`;
  }
  return biasIneligible(node, weights);
}

function convIneligible(node: onnx.NodeProto, weights: Map<string, onnx.TensorProto>): string | undefined {
  const weight = weights.get(node.input[1] ?? '');
  if (weight === undefined) return 'its weight is computed, not stored';
  if (weight.dataType !== onnx.TensorProto_DataType.FLOAT) return 'its weight is not float32';
  if (weight.dims.length < 3) return `its weight has rank ${weight.dims.length}, not 3 or more`;
  return undefined;
}

/** A bias must be a stored float32 vector with one value per output channel, so that it can become int32. */
function biasIneligible(node: onnx.NodeProto, weights: Map<string, onnx.TensorProto>): string | undefined {
  const name = node.input[2];
  if (name === undefined || name === '') return undefined;
  const bias = weights.get(name);
  const weight = weights.get(node.input[1]!)!;
  const transposed = node.opType === 'Gemm' && intAttribute(node, 'transB', 0) === 1;
  const channels = Number(node.opType === 'Conv' || transposed ? weight.dims[0] : weight.dims[1]);
  if (bias === undefined) return 'its bias is computed, not stored';
  if (bias.dataType !== onnx.TensorProto_DataType.FLOAT) return 'its bias is not float32';
  if (bias.dims.length !== 1 || Number(bias.dims[0]) !== channels) return `its bias has shape [${bias.dims.join(', ')}], not [${channels}]`;
  return undefined;
}
