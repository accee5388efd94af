import { basename } from 'node:path';

/** The parsed flags of `ringtrain prune` and the paths that every kind of pruning reads. */
export interface PruneRequest {
  values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  /** Absolute path of --model. */
  modelPath: string;
  /** Absolute path of --out. */
  out: string;
  /** onnxruntime threads of the speed measurement. */
  threads: number;
}

/** Returns the name of the report row: --name, or the --out file name without .onnx. */
export function rowName(request: PruneRequest): string {
  return (request.values['name'] as string | undefined) ?? basename(request.out).replace(/\.onnx$/, '');
}
