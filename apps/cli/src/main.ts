#!/usr/bin/env node
import { ConfigError, RUN_CONFIG_SCHEMA, describeFields } from '@ringtrain/config';
import { UsageError } from './args.js';
import { COORDINATOR_HELP, coordinatorCommand } from './coordinator-command.js';
import { LAUNCH_HELP, launchCommand } from './launch-command.js';
import { WORKER_HELP, workerCommand } from './worker-command.js';

const HELP = `Usage: ringtrain <command> [options]

Data-parallel training of ONNX models: a coordinator and workers that
all-reduce gradients over a gRPC ring.

Commands:
  launch        coordinator + N local worker processes (the usual entry point)
  coordinator   the coordinator alone, for runs across several hosts
  worker        one worker, joining a coordinator
  config-keys   list every run config key with its type and default

Run 'ringtrain <command> --help' for the options of a command.`;

const commands: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  launch: { run: launchCommand, help: LAUNCH_HELP },
  coordinator: { run: coordinatorCommand, help: COORDINATOR_HELP },
  worker: { run: workerCommand, help: WORKER_HELP },
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
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`ringtrain ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`ringtrain: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
