/** Turns the JSON log lines of the run's processes into short lines for a terminal. */

const HIDDEN_KEYS = new Set(['level', 'time', 'pid', 'role', 'runId', 'rank', 'worldSize', 'msg', 'hostname', 'progress', 'config', 'summary']);

function formatValue(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  if (typeof value === 'string') return value.includes(' ') ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

/** Formats one progress line: step, loss, throughput and where the step time went. */
export function formatProgress(p: Record<string, number>): string {
  const total = p['totalSteps'] ?? 0;
  const width = String(total).length;
  const parts = [
    `step ${String(p['step']).padStart(width)}/${total}`,
    `epoch ${p['epoch']}`,
    `loss ${p['loss']?.toFixed(4)}`,
    `lr ${p['lr']?.toPrecision(3)}`,
    `${Math.round(p['samplesPerSec'] ?? 0).toLocaleString('en-US')} samples/s`,
    ...(p['tokensPerSec'] === undefined ? [] : [`${Math.round(p['tokensPerSec']).toLocaleString('en-US')} tokens/s`]),
    `compute ${p['computeMs']?.toFixed(1)} ms`,
    `all-reduce ${p['allreduceMs']?.toFixed(1)} ms`,
    `optimizer ${p['optimizerMs']?.toFixed(1)} ms`,
  ];
  if (p['testAccuracy'] !== undefined) parts.push(`test accuracy ${(p['testAccuracy'] * 100).toFixed(2)}%`);
  if (p['valLoss'] !== undefined) parts.push(`val loss ${p['valLoss'].toFixed(4)}`);
  return parts.join('  ');
}

/** Renders one log line; lines that are not JSON pass through unchanged. */
export function renderLogLine(line: string, source: string): string | undefined {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.trim() === '' ? undefined : `[${source}] ${line}`;
  }
  if (record['msg'] === 'effective config') return undefined;
  const role = String(record['role'] ?? source);
  const who = role === 'worker' && record['rank'] !== undefined ? `rank ${String(record['rank'])}` : role;
  if (role !== 'worker' && record['rank'] !== undefined) record['rank='] = record['rank'];
  if (record['msg'] === 'progress' && typeof record['progress'] === 'object') {
    return formatProgress(record['progress'] as Record<string, number>);
  }
  const level = String(record['level'] ?? 'info');
  const extras = Object.entries(record)
    .filter(([key]) => !HIDDEN_KEYS.has(key))
    .map(([key, value]) => `${key.replace(/=$/, '')}=${formatValue(value)}`)
    .join(' ');
  const prefix = level === 'info' ? '' : `${level.toUpperCase()} `;
  return `${prefix}[${who}] ${String(record['msg'] ?? '')}${extras ? '  ' + extras : ''}`;
}
