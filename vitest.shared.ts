import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const root = import.meta.dirname;

/**
 * Maps every workspace package (`@ringtrain/<lib>`, the apps) to its TypeScript
 * source, so in-process tests never need a build. Tests that start app
 * processes still run the built `dist/` files.
 */
function sourceAliases(): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const group of ['libs', 'apps']) {
    for (const dir of readdirSync(join(root, group))) {
      const pkgPath = join(root, group, dir, 'package.json');
      if (!existsSync(pkgPath)) continue;
      const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { name: string };
      aliases[pkg.name] = resolve(root, group, dir, 'src', 'index.ts');
    }
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
