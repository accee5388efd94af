/**
 * Generated protobuf code: the ONNX model format subset (`onnx`), the
 * coordinator control plane (`coordinatorPb`) and the ring data plane (`ringPb`).
 * Regenerate with `npm run codegen`; the `check-generated` target fails when
 * these files are stale.
 */
export * as onnx from './generated/onnx/onnx.js';
export * as coordinatorPb from './generated/ringtrain/v1/coordinator.js';
export * as ringPb from './generated/ringtrain/v1/ring.js';
