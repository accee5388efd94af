/** Name of the init.from model file in the run directory, which rank 0 fetches before its first step. */
export const INIT_ARTIFACT = 'init.onnx';
