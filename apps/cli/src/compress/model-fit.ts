import type { RunConfig } from '@ringtrain/config';
import { onnx } from '@ringtrain/proto';
import { UsageError } from '../args.js';

/** Returns the graph inputs that are fed at run time, with their dimensions (a number or a name). */
function graphInputs(bytes: Uint8Array): { name: string; dims: (number | string)[] }[] {
  const graph = onnx.ModelProto.decode(bytes).graph;
  const stored = new Set(graph?.initializer.map((t) => t.name));
  return (graph?.input ?? [])
    .filter((input) => !stored.has(input.name))
    .map((input) => ({ name: input.name, dims: (input.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimValue ?? (d.dimParam || '?')) }));
}

const article = (word: string) => (/^[aeiou]/.test(word) ? 'an' : 'a');

const shapeText = (dims: readonly (number | string)[]) => `[${dims.map((d, i) => (i === 0 ? 'batch' : String(d))).join(', ')}]`;

/**
 * Checks that a model file is of the kind and input shape that its run config evaluates. It
 * compares the modelKind in the metadata (none for an MLP) with model.kind, an MLP's input
 * `input` with [batch, model.inputSize], and a GPT's or encoder's block size with
 * model.blockSize. `configPath` names the config in messages.
 *
 * @throws UsageError naming the model, the config and the mismatch
 */
export function checkModelFitsRun(modelPath: string, bytes: Uint8Array, metadata: Record<string, string>, config: RunConfig, configPath: string): void {
  const fix = 'pass --config FILE with the config.json of the run that trained the model';
  const runKind = config.model.kind;
  const fileKind = metadata['modelKind'];
  if ((fileKind ?? 'mlp') !== runKind) {
    const description = fileKind === undefined ? 'a model without modelKind metadata (an mlp)' : `${article(fileKind)} ${fileKind} model`;
    throw new UsageError(`--model ${modelPath} is ${description}, but the run config ${configPath} is for ${runKind} models; ${fix}`);
  }
  if (runKind !== 'mlp') {
    const blockSize = Number(metadata['blockSize']);
    if (metadata['blockSize'] !== undefined && blockSize !== config.model.blockSize) {
      throw new UsageError(`--model ${modelPath} has a block size of ${blockSize} tokens, but the run config ${configPath} has model.blockSize ${config.model.blockSize}; ${fix}`);
    }
    return;
  }
  const inputs = graphInputs(bytes);
  const input = inputs.find((i) => i.name === 'input');
  const expected = [0, config.model.inputSize];
  if (input === undefined) {
    throw new UsageError(`--model ${modelPath} has no input 'input' (its inputs: ${inputs.map((i) => i.name).join(', ') || 'none'}), which the mlp run config ${configPath} feeds; ${fix}`);
  }
  const fits = input.dims.length === 2 && (typeof input.dims[1] !== 'number' || input.dims[1] === config.model.inputSize);
  if (!fits) throw new UsageError(`--model ${modelPath} takes 'input' of shape ${shapeText(input.dims)}, but the run config ${configPath} feeds ${shapeText(expected)}; ${fix}`);
}
