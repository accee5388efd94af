import { readFileSync } from 'node:fs';
import { readModelMetadata } from '@ringtrain/graph';
import * as ort from 'onnxruntime-node';

/** Input and output names of the language-model contract. */
export const INPUT_NAME = 'idx';
export const OUTPUT_NAME = 'logits';

const CONTRACT = `generate needs one input '${INPUT_NAME}' (int64 [batch, seq]) and one output '${OUTPUT_NAME}' (float32 [batch, seq, vocab])`;

/** A model file that cannot be read or does not meet the language-model contract. */
export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

/** A loaded character-level language model. */
export interface LanguageModel {
  path: string;
  session: ort.InferenceSession;
  /** Characters in token id order, from the `vocab` metadata entry. */
  vocab: string[];
  /** Maximum context length, undefined when neither the metadata nor the input shape sets one. */
  blockSize: number | undefined;
  /** Whether the input's seq dimension is static, so every run must feed exactly `blockSize` tokens. */
  fixedLength: boolean;
}

/**
 * Loads a language model and checks its contract: one int64 input `idx` of rank 2, one
 * float32 output `logits` of rank 3, and a `vocab` metadata entry. The block size comes from
 * the `blockSize` metadata entry, else from a static seq dimension of `idx`.
 *
 * @throws ModelFileError naming the file and what is missing or invalid
 */
export async function loadLanguageModel(path: string): Promise<LanguageModel> {
  const bytes = readModelBytes(path);
  const metadata = readMetadata(path, bytes);
  const kind = metadata['modelKind'];
  if (kind !== undefined && kind !== 'gpt') {
    throw new ModelFileError(`model ${path} is a ${kind} model (modelKind in its metadata), not a language model; generate needs a gpt model`);
  }
  const vocab = parseVocab(path, metadata['vocab']);

  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes);
  } catch (error) {
    throw new ModelFileError(`onnxruntime failed to load model ${path}: ${(error as Error).message}`);
  }
  try {
    const seqDim = checkSignature(path, session);
    const metadataBlockSize = parseBlockSize(path, metadata['blockSize']);
    if (metadataBlockSize !== undefined && seqDim !== undefined && metadataBlockSize !== seqDim) {
      throw new ModelFileError(
        `model ${path} has blockSize ${metadataBlockSize} in its metadata but input '${INPUT_NAME}' has a ` +
          `static seq dimension of ${seqDim}; re-export it with matching values`,
      );
    }
    return { path, session, vocab, blockSize: metadataBlockSize ?? seqDim, fixedLength: seqDim !== undefined };
  } catch (error) {
    await session.release();
    throw error;
  }
}

function readModelBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelFileError(`model file ${path} not found; pass the path of an ONNX file with --model`);
    if (code === 'EISDIR') throw new ModelFileError(`--model ${path} is a directory; pass the path of an ONNX file`);
    throw new ModelFileError(`failed to read model file ${path}: ${(error as Error).message}`);
  }
}

/**
 * Reads `metadata_props`. onnxruntime-node 1.30 exposes the inputs and outputs of a session
 * but not the custom metadata, so the bytes are parsed here.
 */
function readMetadata(path: string, bytes: Uint8Array): Record<string, string> {
  try {
    return readModelMetadata(bytes);
  } catch (error) {
    throw new ModelFileError(`failed to parse model ${path} as ONNX: ${(error as Error).message}`);
  }
}

/** Parses the `vocab` entry: a non-empty JSON array of distinct single characters. */
export function parseVocab(path: string, text: string | undefined): string[] {
  const expected = `'vocab', a JSON array of the characters in token id order`;
  if (text === undefined) {
    throw new ModelFileError(`model ${path} has no 'vocab' in its metadata_props; generate needs ${expected}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ModelFileError(`metadata 'vocab' of model ${path} is not valid JSON (${(error as Error).message}); generate needs ${expected}`);
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw new ModelFileError(`metadata 'vocab' of model ${path} is empty or not an array; generate needs ${expected}`);
  }
  const seen = new Map<string, number>();
  value.forEach((entry: unknown, id) => {
    // A prompt is split into Unicode code points, so each entry must be exactly one.
    if (typeof entry !== 'string' || Array.from(entry).length !== 1) {
      throw new ModelFileError(`metadata 'vocab' of model ${path} has ${JSON.stringify(entry)} at id ${id}; every entry must be one character`);
    }
    const first = seen.get(entry);
    if (first !== undefined) {
      throw new ModelFileError(`metadata 'vocab' of model ${path} lists ${JSON.stringify(entry)} at ids ${first} and ${id}; entries must be distinct`);
    }
    seen.set(entry, id);
  });
  return value as string[];
}

function parseBlockSize(path: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new ModelFileError(`metadata 'blockSize' of model ${path} is '${text}'; it must be a positive decimal integer`);
  }
  return Number(text);
}

/** Checks the input and output names, types and ranks, and returns the static seq dimension of `idx` if it has one. */
function checkSignature(path: string, session: ort.InferenceSession): number | undefined {
  const names = (list: readonly string[]) => `[${list.map((n) => `'${n}'`).join(', ')}]`;
  if (session.inputNames.length !== 1 || session.inputNames[0] !== INPUT_NAME) {
    throw new ModelFileError(`model ${path} has inputs ${names(session.inputNames)}; ${CONTRACT}`);
  }
  if (session.outputNames.length !== 1 || session.outputNames[0] !== OUTPUT_NAME) {
    throw new ModelFileError(`model ${path} has outputs ${names(session.outputNames)}; ${CONTRACT}`);
  }
  const input = session.inputMetadata[0]!;
  const output = session.outputMetadata[0]!;
  if (!input.isTensor || input.type !== 'int64' || input.shape.length !== 2) {
    throw new ModelFileError(`model ${path} has input '${INPUT_NAME}' of ${describeValue(input)}; ${CONTRACT}`);
  }
  if (!output.isTensor || output.type !== 'float32' || output.shape.length !== 3) {
    throw new ModelFileError(`model ${path} has output '${OUTPUT_NAME}' of ${describeValue(output)}; ${CONTRACT}`);
  }
  const [batch, seq] = input.shape;
  if (typeof batch === 'number' && batch !== 1) {
    throw new ModelFileError(`model ${path} has a static batch dimension of ${batch} on '${INPUT_NAME}'; generate feeds batch 1, so re-export it with batch 1 or a symbolic batch`);
  }
  return typeof seq === 'number' && seq > 0 ? seq : undefined;
}

function describeValue(value: ort.InferenceSession.ValueMetadata): string {
  if (!value.isTensor) return 'a non-tensor type';
  return `type ${value.type} [${value.shape.join(', ')}]`;
}
