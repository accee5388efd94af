import { parseArgs, type ParseArgsConfig } from 'node:util';

/** An invalid command line; the message names the flag and the fix. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses a command's flags strictly; unknown flags raise a UsageError naming the flag. */
export function parseCommand(command: string, argv: string[], options: Options) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true })
      .values as Record<string, string | boolean | string[] | undefined>;
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message}; see 'ringtrain ${command} --help'`);
  }
}

export function requireString(values: Record<string, unknown>, name: string, command: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') {
    throw new UsageError(`${command}: missing --${name}; see 'ringtrain ${command} --help'`);
  }
  return value;
}

export function positiveInt(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(`--${flag} must be a positive integer, got '${text}'`);
  }
  return value;
}

/** Checks a HOST:PORT flag; port 0 means any free port. */
export function hostPort(text: string, flag: string): string {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  if (!match || Number(match[2]) > 65535) {
    throw new UsageError(`--${flag} must be HOST:PORT (for example 127.0.0.1:0), got '${text}'`);
  }
  return text;
}

/**
 * Quotes a word of a printed command line for POSIX shells, so that a path with spaces or quotes
 * can be pasted back. Words of only safe characters stay as they are.
 */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
