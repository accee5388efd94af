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
  const rest: string[] = [];
  const teachers: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--teacher') teachers.push(argv[++i] ?? '');
    else if (arg.startsWith('--teacher=')) teachers.push(arg.slice('--teacher='.length));
    else rest.push(arg);
  }
  const teacher = teachers[0];
  if (teacher === undefined || teacher === '') throw new UsageError("distill: missing --teacher FILE; see 'ringtrain distill --help'");
  if (teachers.length > 1) throw new UsageError(`distill: give --teacher once; got ${teachers.join(' and ')}`);
  // The --set of this command comes last and would silently replace a teacher set by the user.
  const setTeacher = rest.find((arg, i) => (rest[i - 1] === '--set' || arg.startsWith('--set=')) && arg.replace(/^--set=/, '').startsWith('distill.teacher='));
  if (setTeacher !== undefined) {
    throw new UsageError(`distill: --teacher ${teacher} and --set ${setTeacher.replace(/^--set=/, '')} both name a teacher; give one of them`);
  }
  return launchCommand([...rest, '--set', `distill.teacher=${teacher}`]);
}
