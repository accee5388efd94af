import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const root = import.meta.dirname;

/** Maps every `@ringtrain/<lib>` package to its TypeScript source, so tests never need a build of the libs. */
function sourceAliases(): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const dir of readdirSync(join(root, 'libs'))) {
    const pkgPath = join(root, 'libs', dir, 'package.json');
    if (!existsSync(pkgPath)) continue;
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { name: string };
    aliases[pkg.name] = resolve(root, 'libs', dir, 'src', 'index.ts');
  }
  return aliases;
}

/** Vitest settings shared by every project; `testTimeout` is generous because 2-core CI machines are slow. */
export function projectConfig(projectRoot: string, overrides: { testTimeout?: number } = {}) {
  return defineConfig({
    root: projectRoot,
    resolve: { alias: sourceAliases() },
    test: {
      include: ['src/**/*.spec.ts'],
      environment: 'node',
      testTimeout: overrides.testTimeout ?? 60_000,
      hookTimeout: 60_000,
      pool: 'forks',
      fileParallelism: false,
    },
  });
}
