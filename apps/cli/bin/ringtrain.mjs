#!/usr/bin/env node
// Entry point of the `ringtrain` command. It compiles the workspace on first
// use (and again when a source file is newer than the last build), then runs
// the compiled CLI.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const workspace = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const main = join(workspace, 'apps/cli/dist/main.js');
const stamp = join(workspace, 'apps/cli/dist/.build-stamp');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function needsBuild() {
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  for (const group of ['libs', 'apps']) {
    for (const name of readdirSync(join(workspace, group))) {
      const src = join(workspace, group, name, 'src');
      if (existsSync(src) && newestSource(src) > built) return true;
    }
  }
  return false;
}

if (process.env.RINGTRAIN_SKIP_BUILD !== '1' && needsBuild()) {
  process.stderr.write('ringtrain: compiling the workspace (first use or changed sources)...\n');
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', join(workspace, 'tsconfig.json')], { stdio: 'inherit', cwd: workspace });
  writeFileSync(stamp, new Date().toISOString() + '\n');
}

await import(pathToFileURL(main).href);
