import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Fields bound to every line a process logs. */
export interface LogContext {
  role: 'launcher' | 'coordinator' | 'worker' | 'cli';
  runId?: string;
  rank?: number;
  worldSize?: number;
}

/**
 * Creates the structured (JSON lines) logger of an app process, writing to
 * stderr so that stdout stays free for results. The level comes from
 * `RINGTRAIN_LOG_LEVEL` (trace, debug, info, warn, error), default info.
 */
export function createLogger(context: LogContext, destination: NodeJS.WritableStream = process.stderr): Logger {
  const level = process.env['RINGTRAIN_LOG_LEVEL'] ?? 'info';
  return pino(
    {
      level,
      base: { ...context, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Returns a logger that drops everything, for library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
