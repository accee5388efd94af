import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Graph, serializeModel, tensor, type Dim } from '@ringtrain/graph';

/** Options of {@link bigramModel}; the defaults meet the contract of `ringtrain generate`. */
export interface BigramModelOptions {
  /** Written as the `vocab` metadata entry; undefined leaves it out. */
  vocab?: string | undefined;
  /** Written as the `blockSize` metadata entry when set. */
  blockSize?: string;
  inputName?: string;
  /** Seq dimension of the input; symbolic by default. */
  seq?: Dim;
  /**
   * Sums the table rows of every fed token, so the logits of the last position depend on the
   * whole context and show whether it was cropped.
   */
  sumOverContext?: boolean;
}

/**
 * Builds a bigram language model: `logits[b, t] = table[idx[b, t]]`, a Gather of a constant
 * [vocab, vocab] table, with the vocabulary in its metadata.
 */
export function bigramModel(table: readonly (readonly number[])[], vocab: readonly string[], options: BigramModelOptions = {}): Uint8Array {
  const size = vocab.length;
  const graph = new Graph('bigram');
  const idx = graph.input(options.inputName ?? 'idx', 'int64', ['batch', options.seq ?? 'seq']);
  const weights = graph.initializer('table', tensor('float32', [size, size], table.flat()));
  let logits = graph.op('Gather', [weights, idx], { axis: 0 });
  if (options.sumOverContext) {
    const total = graph.op('ReduceSum', [logits, graph.int64s([1])], { keepdims: 1 });
    const zeros = graph.op('Mul', [logits, graph.scalar(0, 'float32')]);
    logits = graph.op('Add', [zeros, total]);
  }
  graph.output(logits, 'logits');

  const metadata: Record<string, string> = {};
  const vocabText = 'vocab' in options ? options.vocab : JSON.stringify(vocab);
  if (vocabText !== undefined) metadata['vocab'] = vocabText;
  if (options.blockSize !== undefined) metadata['blockSize'] = options.blockSize;
  return serializeModel(graph, { metadata });
}

/** Writes `bytes` to `dir/name` and returns the path. */
export function saveModel(dir: string, name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}
