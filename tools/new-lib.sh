#!/usr/bin/env bash
# Scaffolds libs/<name> (or apps/<name> with KIND=app): package.json, project.json,
# tsconfigs, vitest config and src/index.ts.
set -euo pipefail
name="$1"; shift
kind="${KIND:-lib}"
deps=("$@")
dir="${kind}s/$name"
mkdir -p "$dir/src"
refs=""
depjson=""
for d in "${deps[@]}"; do
  refs="$refs{ \"path\": \"../../libs/$d\" },"
  depjson="$depjson\"@ringtrain/$d\": \"*\","
done
refs="[${refs%,}]"
depjson="{${depjson%,}}"
cat > "$dir/package.json" <<JSON
{
  "name": "@ringtrain/$name",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "exports": {
    ".": {
      "types": "./dist/index.d.ts",
      "default": "./dist/index.js"
    }
  },
  "dependencies": $depjson
}
JSON
cat > "$dir/project.json" <<JSON
{
  "name": "$name",
  "\$schema": "../../node_modules/nx/schemas/project-schema.json",
  "projectType": "$([ "$kind" = app ] && echo application || echo library)",
  "sourceRoot": "$dir/src",
  "tags": ["type:$kind"],
  "targets": {
    "build": {
      "executor": "nx:run-commands",
      "options": { "command": "tsc -b tsconfig.json", "cwd": "{projectRoot}" }
    },
    "typecheck": {
      "executor": "nx:run-commands",
      "options": { "command": "tsc -p tsconfig.spec.json --noEmit", "cwd": "{projectRoot}" }
    },
    "test": {
      "executor": "nx:run-commands",
      "options": { "command": "vitest run", "cwd": "{projectRoot}" }
    }
  }
}
JSON
cat > "$dir/tsconfig.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": {
    "rootDir": "src",
    "outDir": "dist",
    "tsBuildInfoFile": "dist/tsconfig.tsbuildinfo"
  },
  "include": ["src/**/*.ts"],
  "exclude": ["src/**/*.spec.ts"],
  "references": $refs
}
JSON
cat > "$dir/tsconfig.spec.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": {
    "composite": false,
    "declaration": false,
    "declarationMap": false,
    "noEmit": true,
    "types": ["node"]
  },
  "include": ["src/**/*.ts"]
}
JSON
cat > "$dir/vitest.config.ts" <<TS
import { projectConfig } from '../../vitest.shared.ts';

export default projectConfig(import.meta.dirname);
TS
[ -f "$dir/src/index.ts" ] || echo "export {};" > "$dir/src/index.ts"
echo "created $dir"
