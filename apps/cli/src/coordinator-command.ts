import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, perRankBatch, type RunConfig } from '@ringtrain/config';
import { readModelMetadata } from '@ringtrain/graph';
import { INIT_ARTIFACT, studentDataOf, TEACHER_ARTIFACT, teacherHiddenInputsOf, TeacherRunner } from '@ringtrain/worker';
import { initFromModel } from '@ringtrain/models';
import { Coordinator } from '@ringtrain/coordinator';
import { createLogger } from '@ringtrain/logging';
import { hostPort, parseCommand, positiveInt, requireString, UsageError } from './args.js';
import { checkRunPlan, dataSource, readRunData, type RunData } from './run-data.js';
import { prepareRun } from './run-setup.js';

export const COORDINATOR_HELP = `Usage: ringtrain coordinator --config FILE --world-size N --listen HOST:PORT [options]

Runs the coordinator of one run alone, for runs across several hosts: start it,
then start N workers with --coordinator HOST:PORT.

Options:
  --config FILE        run config (JSON); see 'ringtrain config-keys'
  --world-size N       number of workers in the run
  --listen HOST:PORT   address to serve on (port 0: any free port)
  --runs-dir DIR       parent folder of run directories (default: runs)
  --resume RUN_DIR     continue the run in RUN_DIR from its newest checkpoint
  --set KEY=VALUE      override a config key, for example --set optim.lr=0.01 (repeatable)
  -h, --help           show this help

Prints one JSON line on stdout once listening: {"event":"listening","address",...}.
Exits 0 when the run finished, 1 when it failed, and 2 when an option or the run
config is invalid (the message names it).`;

const FAILURE_GRACE_MS = 1500;

/** Reads the data once, so that a missing or corrupt file stops the run before any worker starts. */
function checkDataFiles(config: RunConfig): RunData {
  let data: RunData;
  try {
    data = readRunData(config);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const hint = config.data.name === 'mnist'
      ? '; data.path must be a folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (plain or .gz)'
      : '';
    throw new UsageError(`cannot read the ${config.data.name} data from ${dataSource(config)}: ${(err as Error).message}${hint}`);
  }
  checkRunPlan(config, data);
  return data;
}

/**
 * Reads a model file named by config key `key`, or on a resumed run the copy `artifact` in the
 * run directory when the file is gone.
 */
function readModelFile(file: string | undefined, key: string, runDir: string, artifact: string): Uint8Array | undefined {
  if (file === undefined) return undefined;
  const target = join(runDir, artifact);
  if (resolve(file) === resolve(target) || (!existsSync(file) && existsSync(target))) return readFileSync(target);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read ${key} ${file}: ${(err as Error).message}; pass the path of an .onnx file`);
  }
  try {
    readModelMetadata(bytes);
  } catch (err) {
    throw new UsageError(`${key} ${file}: ${(err as Error).message}`);
  }
  return bytes;
}

/** Copies checked model bytes into the run directory as `artifact`, where workers on any host fetch them. */
function stageArtifact(bytes: Uint8Array | undefined, runDir: string, artifact: string): void {
  const target = join(runDir, artifact);
  if (bytes !== undefined && !(existsSync(target) && readFileSync(target).equals(bytes))) writeFileSync(target, bytes);
}

/**
 * Checks that init.from fits the student as rank 0 will load it: every tensor with its shape,
 * and the model kind and vocabulary that the file's metadata records.
 */
function checkInitSource(config: RunConfig, data: RunData, bytes: Uint8Array | undefined): void {
  if (bytes === undefined) return;
  const where = `init.from ${config.init.from}`;
  const metadata = readModelMetadata(bytes);
  const kind = metadata['modelKind'];
  if (kind !== undefined && kind !== config.model.kind) {
    throw new UsageError(`${where} is a ${kind} model but model.kind is ${config.model.kind}; initialise from a model of the same kind`);
  }
  const vocab = metadata['vocab'];
  if (vocab !== undefined && data.vocab !== undefined && vocab !== JSON.stringify(data.vocab)) {
    throw new UsageError(`${where} was trained on another vocabulary than the run's text (${vocab.slice(0, 60)}...), so its embedding rows would stand for other characters`);
  }
  try {
    initFromModel(data.specs, new Float32Array(data.parameters), bytes, { blocks: config.init.blocks });
  } catch (err) {
    throw new UsageError(`${where}: ${(err as Error).message}`);
  }
}

/**
 * Checks the teacher against the student before any worker starts: the same session and
 * one-sample run that every worker repeats when it sets up.
 */
async function checkTeacher(config: RunConfig, data: RunData, bytes: Uint8Array | undefined): Promise<void> {
  if (bytes === undefined) return;
  const { student, teacherInput } = studentDataOf(config, data.vocab);
  try {
    await TeacherRunner.create(bytes, config, student, teacherInput, 1, teacherHiddenInputsOf(config));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * Checks the batch split, the data files, the teacher and the init.from model before any
 * worker starts, and copies the two model files into the run directory.
 */
async function checkAndStageInputs(config: RunConfig, worldSize: number, runDir: string, resumed: boolean): Promise<void> {
  perRankBatch(config, worldSize);
  const data = checkDataFiles(config);
  const teacher = readModelFile(config.distill.teacher, 'distill.teacher', runDir, TEACHER_ARTIFACT);
  await checkTeacher(config, data, teacher);
  stageArtifact(teacher, runDir, TEACHER_ARTIFACT);
  if (!resumed) {
    const init = readModelFile(config.init.from, 'init.from', runDir, INIT_ARTIFACT);
    checkInitSource(config, data, init);
    stageArtifact(init, runDir, INIT_ARTIFACT);
  }
}

export async function coordinatorCommand(argv: string[]): Promise<number> {
  const values = parseCommand('coordinator', argv, {
    config: { type: 'string' },
    'world-size': { type: 'string' },
    listen: { type: 'string' },
    'runs-dir': { type: 'string' },
    resume: { type: 'string' },
    set: { type: 'string', multiple: true },
  });
  if (values['help']) {
    process.stdout.write(COORDINATOR_HELP + '\n');
    return 0;
  }
  const worldSize = positiveInt(requireString(values, 'world-size', 'coordinator'), 'world-size');
  const listen = hostPort(requireString(values, 'listen', 'coordinator'), 'listen');
  const setup = prepareRun({
    config: values['config'] as string | undefined,
    resume: values['resume'] as string | undefined,
    runsDir: (values['runs-dir'] as string | undefined) ?? 'runs',
    overrides: (values['set'] as string[] | undefined) ?? [],
  });
  const runDir = setup.runDir.path;
  try {
    await checkAndStageInputs(setup.config, worldSize, runDir, setup.resumeCheckpoint !== undefined);
  } catch (err) {
    // A new run that fails its checks has written nothing yet, so its directory goes too.
    if (values['resume'] === undefined) rmSync(runDir, { recursive: true, force: true });
    throw err;
  }
  const logger = createLogger({ role: 'coordinator', runId: setup.runId, worldSize });
  logger.info({ config: setup.config }, 'effective config');
  for (const warning of setup.warnings) logger.warn(warning);
  if (setup.resumeCheckpoint) logger.info({ checkpoint: setup.resumeCheckpoint, step: setup.resumeStep }, 'resuming');
  const coordinator = await Coordinator.start({
    config: setup.config,
    worldSize,
    listen,
    runId: setup.runId,
    runDir: setup.runDir,
    resumeCheckpoint: setup.resumeCheckpoint,
    logger,
  });
  process.stdout.write(
    JSON.stringify({ event: 'listening', address: coordinator.address, runId: setup.runId, runDir: setup.runDir.path }) + '\n',
  );
  const stop = () => coordinator.fail('coordinator received a termination signal', undefined);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const summary = await coordinator.done;
    process.stdout.write(JSON.stringify({ event: 'finished', summary }) + '\n');
    return 0;
  } catch (err) {
    process.stdout.write(JSON.stringify({ event: 'failed', message: (err as Error).message }) + '\n');
    // Give the workers a heartbeat or two to hear that the run stopped.
    await new Promise((resolve) => setTimeout(resolve, Math.max(FAILURE_GRACE_MS, setup.config.cluster.heartbeatMs * 2)));
    return 1;
  } finally {
    await coordinator.close();
  }
}
