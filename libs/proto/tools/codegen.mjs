// Generates TypeScript for proto/**/*.proto with protoc (npm package `protoc`)
// and ts-proto into src/generated. With --check, generates into a temporary
// folder and exits 1 when the committed files differ from it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const workspace = resolve(here, '../../..');
const protoRoot = join(workspace, 'proto');
const generated = resolve(here, '../src/generated');
const require = createRequire(import.meta.url);

const TS_PROTO_OPTIONS = [
  'outputServices=grpc-js',
  'env=node',
  'esModuleInterop=true',
  'forceLong=number',
  'useOptionals=messages',
  'annotateFilesWithVersion=false',
  'importSuffix=.js',
  'useExactTypes=false',
];

function listProtos(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listProtos(path);
    return name.endsWith('.proto') ? [path] : [];
  });
}

function listFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

function generate(outDir) {
  mkdirSync(outDir, { recursive: true });
  const protoc = require.resolve('protoc/protoc.cjs');
  const plugin = join(workspace, 'node_modules', '.bin', 'protoc-gen-ts_proto');
  const protos = listProtos(protoRoot).map((p) => relative(protoRoot, p)).sort();
  execFileSync(
    process.execPath,
    [
      protoc,
      `--plugin=protoc-gen-ts_proto=${plugin}`,
      `--ts_proto_out=${outDir}`,
      `--ts_proto_opt=${TS_PROTO_OPTIONS.join(',')}`,
      `--proto_path=${protoRoot}`,
      ...protos,
    ],
    { stdio: 'inherit', cwd: protoRoot },
  );
}

if (process.argv.includes('--check')) {
  const tmp = mkdtempSync(join(tmpdir(), 'ringtrain-codegen-'));
  try {
    generate(tmp);
    const fresh = listFiles(tmp).map((p) => relative(tmp, p)).sort();
    const committed = listFiles(generated).map((p) => relative(generated, p)).sort();
    const stale = [];
    for (const name of new Set([...fresh, ...committed])) {
      const a = fresh.includes(name) ? readFileSync(join(tmp, name), 'utf8') : null;
      const b = committed.includes(name) ? readFileSync(join(generated, name), 'utf8') : null;
      if (a !== b) stale.push(name);
    }
    if (stale.length > 0) {
      console.error(`generated protobuf code is stale: ${stale.join(', ')}; run \`npm run codegen\` and commit the result`);
      process.exit(1);
    }
    console.log(`generated protobuf code is up to date (${fresh.length} files)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  rmSync(generated, { recursive: true, force: true });
  generate(generated);
  console.log(`wrote ${listFiles(generated).length} files to ${relative(workspace, generated)}`);
}
