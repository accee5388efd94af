import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../args.js';

/**
 * Checks, before any work, that the absolute path `out` can take the new model. Its folder must
 * exist, and it must be neither a folder nor the `--model` file, also through a symbolic or hard
 * link, because writing there would destroy the original.
 *
 * @throws UsageError naming --out and the fix
 */
export function checkOutputPath(out: string, modelPath: string): void {
  const folder = dirname(out);
  if (!existsSync(folder)) throw new UsageError(`--out ${out}: the folder ${folder} does not exist; create it or pass a path in an existing folder`);
  if (!statSync(folder).isDirectory()) throw new UsageError(`--out ${out}: ${folder} is not a folder; pass a path in an existing folder`);
  if (!existsSync(out)) return;
  const target = statSync(out);
  if (target.isDirectory()) throw new UsageError(`--out ${out} is a folder; pass a file path such as ${join(out, 'new-model.onnx')}`);
  if (!existsSync(modelPath)) return;
  const model = statSync(modelPath);
  if (realpathSync(out) === realpathSync(modelPath) || (target.ino === model.ino && target.dev === model.dev)) {
    throw new UsageError(`--out ${out} is the --model file; write the new model to another path, so that the original stays`);
  }
}
