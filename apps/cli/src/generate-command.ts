import { createLogger } from '@ringtrain/logging';
import { parseCommand, positiveInt, requireString, UsageError } from './args.js';
import { decodeTokens, encodePrompt, generateTokens } from './generate/generate.js';
import { loadLanguageModel } from './generate/model.js';

export const GENERATE_HELP = `Usage: ringtrain generate --model FILE --prompt TEXT --tokens N [options]

Prints the prompt followed by N characters sampled from a character-level
language model, then a newline. The same model, prompt, options and seed give
the same text, as long as onnxruntime computes the same logits.

The model is an ONNX file with one input 'idx' (int64 [batch, seq]), one output
'logits' (float32 [batch, seq, vocab]) and a 'vocab' metadata entry: a JSON
array of the characters in token id order. The context fed to the model is cut
to its last blockSize tokens, where blockSize is the 'blockSize' metadata entry
or else the static seq dimension of 'idx'. Without either, the whole context
is fed.

Options:
  --model FILE         the ONNX language model
  --prompt TEXT        text to continue; every character must be in the vocabulary
  --tokens N           number of characters to sample (an integer >= 1)
  --temperature T      divides the logits before the softmax; 0 always picks the
                       most likely character (default 1)
  --top-k K            sample only among the K most likely characters (an integer
                       >= 1; default: the whole vocabulary)
  --seed S             seed of the sampling stream, an integer in [0, 2^32) (default 0)
  -h, --help           show this help`;

/** Interval between progress lines on stderr during a long generation. */
const PROGRESS_INTERVAL_MS = 10_000;

export interface CommandStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export async function generateCommand(argv: string[], streams: CommandStreams = process): Promise<number> {
  const values = parseCommand('generate', argv, {
    model: { type: 'string' },
    prompt: { type: 'string' },
    tokens: { type: 'string' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    seed: { type: 'string' },
  });
  if (values['help']) {
    streams.stdout.write(GENERATE_HELP + '\n');
    return 0;
  }
  const modelPath = requireString(values, 'model', 'generate');
  if (values['prompt'] === '') throw new UsageError('--prompt must contain at least one character for the model to continue');
  const prompt = requireString(values, 'prompt', 'generate');
  const tokens = positiveInt(requireString(values, 'tokens', 'generate'), 'tokens');
  const temperature = parseTemperature(values['temperature'] as string | undefined);
  const topKText = values['top-k'] as string | undefined;
  const topK = topKText === undefined ? undefined : positiveInt(topKText, 'top-k');
  const seed = parseSeed(values['seed'] as string | undefined);

  const model = await loadLanguageModel(modelPath);
  try {
    const promptIds = encodePrompt(prompt, model.vocab);
    const logger = createLogger({ role: 'cli' }, streams.stderr);
    const started = Date.now();
    let lastReport = started;
    const onToken = (_id: number, step: number) => {
      const now = Date.now();
      if (now - lastReport < PROGRESS_INTERVAL_MS) return;
      lastReport = now;
      logger.info({ tokens: step + 1, totalTokens: tokens, seconds: (now - started) / 1000 }, 'generating');
    };
    const sampled = await generateTokens(model, promptIds, { tokens, temperature, topK, seed, onToken });
    if (lastReport !== started) {
      const seconds = (Date.now() - started) / 1000;
      logger.info({ tokens, seconds, tokensPerSecond: tokens / seconds }, 'generation finished');
    }
    streams.stdout.write(prompt + decodeTokens(sampled, model.vocab) + '\n');
    return 0;
  } finally {
    await model.session.release();
  }
}

function parseTemperature(text: string | undefined): number {
  if (text === undefined) return 1;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new UsageError(`--temperature must be a number >= 0 (0 picks the most likely character), got '${text}'`);
  }
  return value;
}

function parseSeed(text: string | undefined): number {
  if (text === undefined) return 0;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value >= 2 ** 32) {
    throw new UsageError(`--seed must be an integer in [0, 2^32), got '${text}'`);
  }
  return value;
}
