import { createLogger } from '@ringtrain/logging';
import { runWorker } from '@ringtrain/worker';
import { hostPort, parseCommand, requireString, UsageError } from './args.js';

export const WORKER_HELP = `Usage: ringtrain worker --coordinator HOST:PORT [options]

Runs one worker: it joins the coordinator, gets its rank, trains its shard and
all-reduces gradients with its ring neighbours.

Options:
  --coordinator HOST:PORT  address of the coordinator
  --listen HOST:PORT       address for the ring service (default 127.0.0.1:0)
  --advertise HOST:PORT    address peers use to reach this worker (default: the bound
                           listen address; required when listening on 0.0.0.0)
  --device cpu|cuda:K      device to train on (default cpu)
  -h, --help               show this help`;

export async function workerCommand(argv: string[]): Promise<number> {
  const values = parseCommand('worker', argv, {
    coordinator: { type: 'string' },
    listen: { type: 'string' },
    advertise: { type: 'string' },
    device: { type: 'string' },
  });
  if (values['help']) {
    process.stdout.write(WORKER_HELP + '\n');
    return 0;
  }
  const coordinator = hostPort(requireString(values, 'coordinator', 'worker'), 'coordinator');
  const listen = hostPort((values['listen'] as string | undefined) ?? '127.0.0.1:0', 'listen');
  const advertise = values['advertise'] === undefined ? undefined : hostPort(values['advertise'] as string, 'advertise');
  const device = (values['device'] as string | undefined) ?? 'cpu';
  if (!/^(cpu|cuda:\d+)$/.test(device)) throw new UsageError(`--device must be cpu or cuda:K, got '${device}'`);
  const logger = createLogger({ role: 'worker' });
  try {
    await runWorker({ coordinator, listen, advertise, device, logger });
    return 0;
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'worker failed');
    return 1;
  }
}
