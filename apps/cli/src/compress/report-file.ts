import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../args.js';
import { reportMarkdown, reportSvg, type Report, type ReportRow } from '../pipeline/report.js';

/** Row fields that every report row has, as numbers. */
const ROW_NUMBERS = ['parameters', 'modelBytes', 'latencyMsBatch1', 'samplesPerSecBatch256'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads the report.json at `path`, or returns an empty report when the file is missing.
 *
 * @throws UsageError when the file is not a report of the expected form, or was measured with
 *   other threads
 */
function readReport(path: string, threads: number): Report {
  if (!existsSync(path)) return { models: [], threads };
  const fix = 'pass the report.json of a pipeline, or a new path';
  let report: unknown;
  try {
    report = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--report ${path} is not JSON: ${(err as Error).message}; ${fix}`);
  }
  if (!isObject(report) || !Array.isArray(report['models'])) throw new UsageError(`--report ${path} is not a JSON object with a 'models' list; ${fix}`);
  report['models'].forEach((row: unknown, i) => {
    if (!isObject(row) || typeof row['name'] !== 'string') throw new UsageError(`--report ${path}: row ${i} is not an object with a name; ${fix}`);
    const missing = ROW_NUMBERS.find((key) => typeof row[key] !== 'number');
    if (missing !== undefined) throw new UsageError(`--report ${path}: row ${i} ('${row['name']}') has no number '${missing}'; ${fix}`);
  });
  const measured = report['threads'];
  if (typeof measured !== 'number' || !Number.isInteger(measured) || measured < 1) {
    throw new UsageError(`--report ${path} has no 'threads' count (a positive integer); ${fix}`);
  }
  if (measured !== threads) throw new UsageError(`--report ${path} was measured with ${measured} thread(s); pass --threads ${measured} so that the rows compare`);
  return report as unknown as Report;
}

/** Rejects a row name that report.md and report.svg cannot show on one line. */
function checkRowName(name: string): void {
  if (name.trim() === '') throw new UsageError('--report: the row name is empty; pass --name NAME');
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    throw new UsageError(`--report: the row name ${JSON.stringify(name).replace(/"/g, "'")} contains a control character; pass --name NAME without one`);
  }
}

/**
 * Checks, before a command does its work, that a row named `name` can be added to the report at
 * `path`: the folder exists, the row name fits on one line, and an existing file is a report
 * measured with `threads` threads.
 *
 * @throws UsageError naming the problem and the fix
 */
export function checkReportTarget(path: string, name: string, threads: number): void {
  const folder = dirname(path);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new UsageError(`--report ${path}: the folder ${folder} does not exist; create it or pass a path in an existing folder`);
  }
  checkRowName(name);
  readReport(path, threads);
}

/** Returns the held-out figure that a row compares by, as words for messages. */
function metricOf(row: ReportRow): string {
  return row.testErrors !== undefined ? 'test errors' : 'a validation loss';
}

/**
 * Rejects a row whose held-out figure differs from that of the other rows, because report.md and
 * report.svg show one figure for all rows: test errors, or validation loss for language models.
 */
function checkSameMetric(path: string, rows: readonly ReportRow[], row: ReportRow): void {
  const other = rows.find((r) => r.name !== row.name && metricOf(r) !== metricOf(row));
  if (other === undefined) return;
  const compared = metricOf(other) === 'test errors' ? 'test errors' : 'validation loss';
  throw new UsageError(`--report ${path} compares models by ${compared}, but the row '${row.name}' has ${metricOf(row)}; pass another report for this model`);
}

/**
 * Adds `row` to the report.json at `path`, replacing a row of the same name, and rewrites
 * report.md and report.svg beside it. A missing file starts a new report.
 *
 * @throws UsageError when the file exists but is not a report, was measured with other threads, or
 *   compares its rows by another figure than the row's
 */
export function addReportRow(path: string, row: ReportRow, threads: number): Report {
  const report = readReport(path, threads);
  checkSameMetric(path, report.models, row);
  report.models = [...report.models.filter((r) => r.name !== row.name), row];
  writeFileSync(path, JSON.stringify(report, null, 2) + '\n');
  const dir = dirname(path);
  writeFileSync(join(dir, 'report.md'), reportMarkdown(report));
  writeFileSync(join(dir, 'report.svg'), reportSvg(report));
  return report;
}
