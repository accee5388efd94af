import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { UsageError } from '../args.js';

const mainScript = resolve(import.meta.dirname, '..', 'main.js');

/** Runs `ringtrain launch` (or `distill`) as a child process, printing its lines, and returns its run directory. */
export function runStage(name: string, args: string[]): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [mainScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let runDir = '';
    const onLine = (line: string) => {
      if (line.startsWith('run directory ')) runDir = line.slice('run directory '.length).trim();
      process.stderr.write(`[${name}] ${line}\n`);
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.on('exit', (code) => {
      if (code === 0 && runDir !== '') done(runDir);
      else fail(new UsageError(`the ${name} stage failed with exit code ${code}; its logs are above`));
    });
  });
}
