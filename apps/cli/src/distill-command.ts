import { UsageError } from './args.js';
import { launchCommand } from './launch-command.js';

export const DISTILL_HELP = `Usage: ringtrain distill --teacher FILE --config FILE --workers N [options]

Trains the student of the run config on a teacher's soft targets: a launch with
distill.teacher set. The loss is alpha T^2 KL(teacher/T || student/T) + (1 - alpha)
cross-entropy, with distill.temperature and distill.alpha from the config or --set.
Every worker runs the teacher on its own shard of each batch.

Options:
  --teacher FILE       .onnx model whose output 'logits' covers the student's classes
                       or vocabulary (distill.teacherOutput and distill.teacherInput
                       name other tensors)
  --config FILE, --workers N, --resume RUN_DIR, --runs-dir DIR, --set KEY=VALUE,
  --log-format FORMAT  as for 'ringtrain launch'
  -h, --help           show this help`;

/** Runs `launch` with `--set distill.teacher=FILE` taken from `--teacher FILE`. */
export async function distillCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(DISTILL_HELP + '\n');
    return 0;
  }
  const rest = [...argv];
  let teacher: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--teacher' || arg.startsWith('--teacher=')) {
      teacher = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : rest[i + 1];
      rest.splice(i, arg.includes('=') ? 1 : 2);
      break;
    }
  }
  if (teacher === undefined || teacher === '') throw new UsageError("distill: missing --teacher FILE; see 'ringtrain distill --help'");
  return launchCommand([...rest, '--set', `distill.teacher=${teacher}`]);
}
