import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { GENERATE_HELP, generateCommand } from './generate-command.js';
import { bigramModel, saveModel } from './testing/language-models.js';
import { CLI_MAIN } from './testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-generate-command-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const VOCAB = ['h', 'e', 'l', 'o', ' '];
/** The largest entry of row i gives the chain h e l o ' ' h. */
const TABLE = [
  [0.1, 1.5, 0.3, 0.2, 0.4],
  [0.2, 0.1, 1.4, 0.3, 0.2],
  [0.3, 0.2, 0.1, 1.6, 0.1],
  [0.4, 0.3, 0.2, 0.1, 1.3],
  [1.2, 0.2, 0.3, 0.4, 0.1],
];
const MODEL = saveModel(scratch, 'hello.onnx', bigramModel(TABLE, VOCAB));

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await generateCommand(argv, { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('generate command', () => {
  it('prints the prompt and its continuation', async () => {
    const result = await run(['--model', MODEL, '--prompt', 'he', '--tokens', '7', '--temperature', '0']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('helo helo\n');
    expect(result.stderr).toBe('');
  });

  it('gives the same text for the same seed', async () => {
    const args = ['--model', MODEL, '--prompt', 'h', '--tokens', '30', '--top-k', '3'];
    const first = await run([...args, '--seed', '12']);
    const again = await run([...args, '--seed', '12']);
    const otherSeed = await run([...args, '--seed', '13']);
    expect(first.stdout).toHaveLength(32);
    // Two independent top-3 draws agree with a probability of about 0.45, and 0.45^30 is about 4e-11.
    expect(again.stdout).toBe(first.stdout);
    expect(otherSeed.stdout).not.toBe(first.stdout);
  });

  it('prints help', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(GENERATE_HELP + '\n');
  });

  const invalid: [string, string[], RegExp][] = [
    ['missing --model', ['--prompt', 'h', '--tokens', '1'], /generate: missing --model/],
    ['missing --prompt', ['--model', MODEL, '--tokens', '1'], /generate: missing --prompt/],
    ['empty --prompt', ['--model', MODEL, '--prompt', '', '--tokens', '1'], /--prompt must contain at least one character/],
    ['missing --tokens', ['--model', MODEL, '--prompt', 'h'], /generate: missing --tokens/],
    ['zero --tokens', ['--model', MODEL, '--prompt', 'h', '--tokens', '0'], /--tokens must be a positive integer, got '0'/],
    ['fractional --tokens', ['--model', MODEL, '--prompt', 'h', '--tokens', '2.5'], /--tokens must be a positive integer, got '2.5'/],
    ['negative --temperature', ['--model', MODEL, '--prompt', 'h', '--tokens', '1', '--temperature=-1'], /--temperature must be a number >= 0 .*got '-1'/],
    ['text --temperature', ['--model', MODEL, '--prompt', 'h', '--tokens', '1', '--temperature', 'hot'], /--temperature must be a number >= 0 .*got 'hot'/],
    ['zero --top-k', ['--model', MODEL, '--prompt', 'h', '--tokens', '1', '--top-k', '0'], /--top-k must be a positive integer, got '0'/],
    ['negative --seed', ['--model', MODEL, '--prompt', 'h', '--tokens', '1', '--seed=-1'], /--seed must be an integer in \[0, 2\^32\), got '-1'/],
    ['--seed of 2^32', ['--model', MODEL, '--prompt', 'h', '--tokens', '1', '--seed', '4294967296'], /--seed must be an integer in \[0, 2\^32\), got '4294967296'/],
    ['unknown flag', ['--model', MODEL, '--prompt', 'h', '--tokens', '1', '--topk', '2'], /generate: Unknown option '--topk'.*see 'ringtrain generate --help'/],
    ['unknown prompt character', ['--model', MODEL, '--prompt', 'help', '--tokens', '1'], /--prompt contains "p" \(U\+0070\) at index 3, .* the model's vocabulary has 5 characters/],
  ];
  for (const [name, argv, message] of invalid) {
    it(`BAD FLAG - rejects ${name}`, async () => {
      await expect(run(argv)).rejects.toThrow(message);
    });
  }
});

describe('ringtrain generate (built CLI)', () => {
  it('prints the continuation and exits 0', () => {
    const result = spawnSync(process.execPath, [CLI_MAIN, 'generate', '--model', MODEL, '--prompt', 'o', '--tokens', '5', '--temperature', '0'], {
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('o helo\n');
    expect(result.status).toBe(0);
  });

  it('BAD FILE - reports a wrong input name and exits 2', () => {
    const path = saveModel(scratch, 'wrong-input.onnx', bigramModel(TABLE, VOCAB, { inputName: 'tokens' }));
    const result = spawnSync(process.execPath, [CLI_MAIN, 'generate', '--model', path, '--prompt', 'h', '--tokens', '1'], { encoding: 'utf8' });
    expect(result.stderr).toMatch(/^ringtrain generate: model .*wrong-input\.onnx has inputs \['tokens'\]; generate needs one input 'idx'/);
    expect(result.stdout).toBe('');
    expect(result.status).toBe(2);
  });
});
