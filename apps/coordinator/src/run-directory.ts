import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, resolve, sep } from 'node:path';

/** Returns a run id such as `20261203-231502-a3f9`, sortable by start time and unique per launch. */
export function newRunId(now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const date = `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}`;
  const time = `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
  return `${date}-${time}-${randomBytes(2).toString('hex')}`;
}

/** Writes a file through a temporary name and a rename, so a crash never leaves half a file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** The folder `runs/<run-id>/` that the coordinator owns: config, metrics, model, checkpoints. */
export class RunDirectory {
  constructor(readonly path: string) {
    mkdirSync(join(path, 'checkpoints'), { recursive: true });
  }

  static create(runsDir: string, runId: string): RunDirectory {
    return new RunDirectory(resolve(runsDir, runId));
  }

  /** Resolves a name sent by a worker, rejecting any that would leave the run directory. */
  resolveArtifact(name: string): string {
    const full = normalize(join(this.path, name));
    if (!full.startsWith(this.path + sep) || name.includes('\0')) {
      throw new Error(`invalid artifact name '${name}': it must be a relative path inside the run directory`);
    }
    return full;
  }

  writeJson(name: string, value: unknown): void {
    writeFileAtomic(join(this.path, name), JSON.stringify(value, null, 2) + '\n');
  }

  appendMetrics(records: readonly Record<string, unknown>[]): void {
    if (records.length === 0) return;
    appendFileSync(join(this.path, 'metrics.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }

  /** Lists the checkpoint artifacts, oldest step first. */
  checkpoints(): string[] {
    const dir = join(this.path, 'checkpoints');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((n) => /^step-\d+\.ckpt$/.test(n))
      .sort()
      .map((n) => `checkpoints/${n}`);
  }
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
