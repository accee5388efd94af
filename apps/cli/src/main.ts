#!/usr/bin/env node
import { CheckpointError } from '@ringtrain/checkpoint';
import { ConfigError, RUN_CONFIG_SCHEMA, describeFields } from '@ringtrain/config';
import { UsageError } from './args.js';
import { COORDINATOR_HELP, coordinatorCommand } from './coordinator-command.js';
import { DISTILL_HELP, distillCommand } from './distill-command.js';
import { GENERATE_HELP, generateCommand } from './generate-command.js';
import { ModelFileError } from './generate/model.js';
import { LAUNCH_HELP, launchCommand } from './launch-command.js';
import { PIPELINE_HELP, pipelineCommand } from './pipeline/pipeline-command.js';
import { GROW_HELP, growCommand } from './compress/grow-command.js';
import { MEASURE_HELP, measureCommand } from './compress/measure-command.js';
import { PRUNE_HELP, pruneCommand } from './compress/prune-command.js';
import { QUANTIZE_HELP, quantizeCommand } from './compress/quantize-command.js';
import { WORKER_HELP, workerCommand } from './worker-command.js';

const HELP = `Usage: ringtrain <command> [options]

Data-parallel training of ONNX models: a coordinator and workers that
all-reduce gradients over a gRPC ring.

Commands:
  launch        coordinator + N local worker processes (the usual entry point)
  coordinator   the coordinator alone, for runs across several hosts
  worker        one worker, joining a coordinator
  distill       a launch that trains the student on a teacher's soft targets
  generate      print a continuation of a prompt, sampled from a language model
  pipeline      teacher, student alone and distilled student, with a report
  quantize      an int8 or float16 copy of a model.onnx, optionally added to a report
  grow          a wider or deeper MLP, GPT or encoder that computes the same function
  prune         a smaller model: fewer units, heads or blocks, or sparse weights
  measure       evaluate and time a run's model.onnx as a row of a report
  config-keys   list every run config key with its type and default

Run 'ringtrain <command> --help' for the options of a command.`;

const commands: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  launch: { run: launchCommand, help: LAUNCH_HELP },
  coordinator: { run: coordinatorCommand, help: COORDINATOR_HELP },
  worker: { run: workerCommand, help: WORKER_HELP },
  distill: { run: distillCommand, help: DISTILL_HELP },
  generate: { run: (argv) => generateCommand(argv), help: GENERATE_HELP },
  pipeline: { run: pipelineCommand, help: PIPELINE_HELP },
  quantize: { run: quantizeCommand, help: QUANTIZE_HELP },
  grow: { run: growCommand, help: GROW_HELP },
  prune: { run: pruneCommand, help: PRUNE_HELP },
  measure: { run: measureCommand, help: MEASURE_HELP },
  'config-keys': {
    run: async () => {
      process.stdout.write(describeFields(RUN_CONFIG_SCHEMA).join('\n') + '\n');
      return 0;
    },
    help: 'Usage: ringtrain config-keys\n\nLists every run config key with its type, default and meaning.',
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`ringtrain: unknown command '${name}'\n\n${HELP}\n`);
    return 2;
  }
  if (name === 'config-keys' && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(command.help + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError || err instanceof CheckpointError || err instanceof ModelFileError) {
      // Flag errors already start with the command's name.
      const message = err.message.startsWith(`${name}: `) ? err.message.slice(name.length + 2) : err.message;
      process.stderr.write(`ringtrain ${name}: ${message}\n`);
      return 2;
    }
    throw err;
  }
}

/**
 * Exits once stdout and stderr are flushed. A command that has returned exits even when a stalled
 * peer keeps a socket or timer open, so no process outlives its run.
 */
function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
  setTimeout(() => process.exit(code), 2000).unref();
}

/** Errors from outside (files, addresses) that need their message, not a stack trace. */
function isExpectedError(err: unknown): err is Error {
  if (err instanceof CheckpointError || err instanceof UsageError || err instanceof ConfigError || err instanceof ModelFileError) return true;
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

// A closed terminal or pipe must not end the run: the logs are also written to files.
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

main(process.argv.slice(2)).then(exitAfterFlush, (err: unknown) => {
  const message = isExpectedError(err) && !process.env['RINGTRAIN_DEBUG'] ? err.message : String((err as Error).stack ?? err);
  process.stderr.write(`ringtrain: ${message}\n`);
  exitAfterFlush(1);
});
