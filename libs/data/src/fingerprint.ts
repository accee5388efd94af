import { createHash } from 'node:crypto';
import type { TextClassificationSplit } from './spam-assassin.js';
import type { TextCorpus } from './text-corpus.js';

/**
 * Returns the SHA-256 hex digest of a text corpus: its vocabulary and the token ids of both
 * splits. Checkpoints store it, so that a resume on another text is detected.
 */
export function corpusFingerprint(corpus: TextCorpus): string {
  const hash = createHash('sha256').update(JSON.stringify(corpus.vocab));
  for (const ids of [corpus.train, corpus.val]) {
    hash.update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength));
  }
  return hash.digest('hex');
}

/** Returns the SHA-256 hex digest of a labelled text split: every label and text, in order. */
export function splitFingerprint(split: TextClassificationSplit): string {
  const hash = createHash('sha256');
  split.texts.forEach((text, i) => hash.update(`${split.labels[i]}\u0000${text}\u0000`));
  return hash.digest('hex');
}
