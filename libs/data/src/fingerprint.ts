import { createHash } from 'node:crypto';
import type { TextClassificationSplit } from './spam-assassin.js';
import type { TextCorpus } from './text-corpus.js';

/**
 * Returns a SHA-256 of what a language model trains on: the vocabulary and the token ids of both
 * splits. A checkpoint stores it, so that resuming on another text is caught.
 */
export function corpusFingerprint(corpus: TextCorpus): string {
  const hash = createHash('sha256').update(JSON.stringify(corpus.vocab));
  for (const ids of [corpus.train, corpus.val]) hash.update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength));
  return hash.digest('hex');
}

/** Returns a SHA-256 of a labelled text split: every text and its label, in order. */
export function splitFingerprint(split: TextClassificationSplit): string {
  const hash = createHash('sha256');
  split.texts.forEach((text, i) => hash.update(`${split.labels[i]}\u0000${text}\u0000`));
  return hash.digest('hex');
}
