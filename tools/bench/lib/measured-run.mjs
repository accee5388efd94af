// Runs one benchmark command as a child process group, with a timeout, its
// output saved to a log file, and the CPU load of the machine recorded.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { startCpuMeter } from './cpu-load.mjs';

let activeChild = null;

/** Sends SIGKILL to the process group of the run in progress, if any (used on SIGINT/SIGTERM). */
export function killActiveRun() {
  if (activeChild?.pid !== undefined) {
    try {
      process.kill(-activeChild.pid, 'SIGKILL');
    } catch {
      // The group has already exited.
    }
  }
}

/**
 * Runs `command` with `args` and returns its exit code, stdout, stderr and
 * CPU load. The child leads its own process group, so that a timeout ends it
 * and every process it started. `logFile` receives the command line and both streams.
 */
export function runMeasured(command, args, { cwd, env, timeoutSeconds, logFile }) {
  return new Promise((resolve) => {
    const meter = startCpuMeter();
    const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    activeChild = child;
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (data) => stdout.push(data));
    child.stderr.on('data', (data) => stderr.push(data));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killActiveRun();
    }, timeoutSeconds * 1000);
    const finish = (exitCode, spawnError) => {
      clearTimeout(timer);
      activeChild = null;
      const load = meter.stop();
      const out = Buffer.concat(stdout).toString('utf8');
      const err = Buffer.concat(stderr).toString('utf8') + (spawnError ? `\n${spawnError.message}\n` : '');
      const header = `$ ${[command, ...args].join(' ')}\n# cwd ${cwd}\n# exit ${exitCode}${timedOut ? ' (timed out)' : ''}\n`;
      writeFileSync(logFile, `${header}\n## stdout\n${out}\n## stderr\n${err}`);
      resolve({ exitCode, timedOut, stdout: out, stderr: err, load });
    };
    child.on('error', (error) => finish(127, error));
    child.on('close', (code, signal) => finish(code ?? (signal ? 128 : 1), null));
  });
}

/** Returns the last line of `text` that parses as a JSON object, or null. */
export function lastJsonLine(text) {
  const lines = text.trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const parsed = parseJsonObject(lines[i]);
    if (parsed) return parsed;
  }
  return null;
}

/** Returns every line of `text` that parses as a JSON object. */
export function jsonLines(text) {
  return text.split('\n').map(parseJsonObject).filter((value) => value !== null);
}

function parseJsonObject(line) {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return null;
  try {
    const value = JSON.parse(trimmed);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}
