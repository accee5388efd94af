import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { decodeCheckpoint } from '@ringtrain/checkpoint';

/** The built CLI; tests that start processes run it, so the cli project's test target builds first. */
export const CLI_MAIN = resolve(import.meta.dirname, '../../dist/main.js');

export interface RunningProcess {
  child: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  /** Resolves with the first output line that matches. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
}

/** Starts `ringtrain <args>` as a child process and records stdout and stderr lines. */
export function startCli(args: string[], env: Record<string, string> = {}): RunningProcess {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI_MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  const watchers: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    for (const w of [...watchers]) {
      if (w.pattern.test(line)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((done) =>
    child.on('exit', (code, signal) => done({ code, signal, ms: Date.now() - started })),
  );
  const waitFor = (pattern: RegExp, timeoutMs: number) => {
    const seen = lines.find((l) => pattern.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${lines.slice(-30).join('\n')}`)), timeoutMs);
      watchers.push({
        pattern,
        resolve: (line) => {
          clearTimeout(timer);
          ok(line);
        },
      });
    });
  };
  return { child, lines, exited, waitFor };
}

/** Runs `ringtrain launch` to completion and returns its run directory. */
export async function launch(args: string[], runsDir: string): Promise<{ runDir: string; output: string[] }> {
  const run = startCli(['launch', '--runs-dir', runsDir, '--log-format', 'json', ...args]);
  const { code } = await run.exited;
  if (code !== 0) throw new Error(`ringtrain launch ${args.join(' ')} exited with ${code}:\n${run.lines.slice(-40).join('\n')}`);
  const line = run.lines.find((l) => l.startsWith('run directory '));
  if (!line) throw new Error(`launch printed no run directory:\n${run.lines.slice(-20).join('\n')}`);
  return { runDir: line.slice('run directory '.length).trim(), output: run.lines };
}

/** Parameters of the newest checkpoint in a run directory. */
export function finalParameters(runDir: string): Float32Array {
  const names = readdirSync(join(runDir, 'checkpoints')).filter((n) => n.endsWith('.ckpt')).sort();
  const last = names[names.length - 1]!;
  return decodeCheckpoint(readFileSync(join(runDir, 'checkpoints', last)), last).tensors['parameters']!;
}

export function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

/** Writes a run config as `<dir>/<name>.json` and returns its path. */
export function writeConfig(dir: string, name: string, config: unknown): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

/** Returns max |a - b| / max |b|, the measure the equivalence tests bound. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return maxDiff / maxRef;
}
