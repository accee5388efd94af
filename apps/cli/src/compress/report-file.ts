import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../args.js';
import { reportMarkdown, reportSvg, type Report, type ReportRow } from '../pipeline/report.js';

/**
 * Adds `row` to the report.json at `path`, replacing a row of the same name, and rewrites
 * report.md and report.svg beside it. A missing file starts a new report.
 *
 * @throws UsageError when the file exists but is not a report, or was measured with other threads
 */
export function addReportRow(path: string, row: ReportRow, threads: number): Report {
  let report: Report = { models: [], threads };
  if (existsSync(path)) {
    try {
      report = JSON.parse(readFileSync(path, 'utf8')) as Report;
    } catch (err) {
      throw new UsageError(`--report ${path} is not JSON: ${(err as Error).message}; pass the report.json of a pipeline`);
    }
    if (!Array.isArray(report.models)) throw new UsageError(`--report ${path} has no 'models' list; pass the report.json of a pipeline`);
    if (report.threads !== threads) {
      throw new UsageError(`--report ${path} was measured with ${report.threads} thread(s); pass --threads ${report.threads} so that the rows compare`);
    }
  }
  report.models = [...report.models.filter((r) => r.name !== row.name), row];
  writeFileSync(path, JSON.stringify(report, null, 2) + '\n');
  const dir = dirname(path);
  writeFileSync(join(dir, 'report.md'), reportMarkdown(report));
  writeFileSync(join(dir, 'report.svg'), reportSvg(report));
  return report;
}
