import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { initParameters, mlpInferenceModel, mlpParameters, type MlpConfig } from '@ringtrain/models';
import { UsageError } from '../args.js';
import { reportMarkdown, type ReportRow } from '../pipeline/report.js';
import { startCli } from '../testing/cluster-harness.js';
import { addReportRow, checkReportTarget } from './report-file.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-report-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const ROW: ReportRow = { name: 'student-int8', parameters: 1000, modelBytes: 4000, latencyMsBatch1: 0.05, samplesPerSecBatch256: 90_000, testErrors: 12, testAccuracy: 0.9988 };

/** Writes `text` as a report.json in its own folder and returns its path. */
function reportFile(name: string, text: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  const path = join(dir, 'report.json');
  writeFileSync(path, text);
  return path;
}

describe('checkReportTarget', () => {
  it('accepts a missing report and a valid one', () => {
    expect(() => checkReportTarget(join(scratch, 'new-report.json'), 'row', 1)).not.toThrow();
    const path = reportFile('valid', JSON.stringify({ models: [ROW], threads: 2 }));
    expect(() => checkReportTarget(path, 'row', 2)).not.toThrow();
  });

  it('EXPECTED FAILURE - reports that are not a report', () => {
    const cases: [string, string, RegExp][] = [
      ['null', 'null', /is not a JSON object with a 'models' list/],
      ['array', '[1, 2]', /is not a JSON object with a 'models' list/],
      ['no-models', '{"threads": 1}', /is not a JSON object with a 'models' list/],
      ['row-null', '{"models": [null], "threads": 1}', /row 0 is not an object with a name/],
      ['row-no-name', '{"models": [{"parameters": 3}], "threads": 1}', /row 0 is not an object with a name/],
      ['row-no-bytes', `{"models": [{"name": "x", "parameters": 3}], "threads": 1}`, /row 0 \('x'\) has no number 'modelBytes'/],
      ['row-text-parameters', JSON.stringify({ models: [{ ...ROW, parameters: 'many' }], threads: 1 }), /row 0 \('student-int8'\) has no number 'parameters'/],
      ['no-threads', '{"models": []}', /has no 'threads' count/],
      ['text-threads', '{"models": [], "threads": "1"}', /has no 'threads' count/],
      ['zero-threads', '{"models": [], "threads": 0}', /has no 'threads' count/],
    ];
    for (const [name, text, message] of cases) {
      const path = reportFile(name, text);
      expect(() => checkReportTarget(path, 'row', 1), name).toThrow(UsageError);
      expect(() => checkReportTarget(path, 'row', 1), name).toThrow(message);
      expect(() => addReportRow(path, ROW, 1), name).toThrow(message);
      expect(readFileSync(path, 'utf8'), `${name} is unchanged`).toBe(text);
      expect(existsSync(join(scratch, name, 'report.md')), `${name} has no report.md`).toBe(false);
    }
  });

  it('EXPECTED FAILURE - other threads, a missing folder, bad row names', () => {
    const path = reportFile('two-threads', JSON.stringify({ models: [], threads: 2 }));
    expect(() => checkReportTarget(path, 'row', 1)).toThrow(/was measured with 2 thread\(s\); pass --threads 2/);
    expect(() => checkReportTarget(join(scratch, 'no-such-folder', 'report.json'), 'row', 1)).toThrow(/the folder .*no-such-folder does not exist/);
    expect(() => checkReportTarget(join(scratch, 'new.json'), '', 1)).toThrow(/the row name is empty; pass --name NAME/);
    expect(() => checkReportTarget(join(scratch, 'new.json'), 'a\nb', 1)).toThrow(/the row name 'a\\nb' contains a control character/);
  });
});

describe('addReportRow', () => {
  it('EXPECTED FAILURE - a row of another metric', () => {
    const languageRow: ReportRow = { name: 'gpt-int8', parameters: 500, modelBytes: 2000, latencyMsBatch1: 0.1, samplesPerSecBatch256: 5000, valLoss: 2.5 };
    const classifiers = reportFile('classifiers', JSON.stringify({ models: [ROW], threads: 1 }));
    expect(() => addReportRow(classifiers, languageRow, 1)).toThrow(/--report .* compares models by test errors, but the row 'gpt-int8' has a validation loss; pass another report/);
    const languageModels = reportFile('language-models', JSON.stringify({ models: [languageRow], threads: 1 }));
    expect(() => addReportRow(languageModels, ROW, 1)).toThrow(/--report .* compares models by validation loss, but the row 'student-int8' has test errors; pass another report/);
    expect(JSON.parse(readFileSync(classifiers, 'utf8')).models).toHaveLength(1);
    // A row replacing the only row of a report may change the metric.
    const single = reportFile('single', JSON.stringify({ models: [{ ...languageRow, name: ROW.name }], threads: 1 }));
    expect(addReportRow(single, ROW, 1).models).toEqual([ROW]);
  });
});

describe('reportMarkdown', () => {
  it('escapes a | in a row name', () => {
    const markdown = reportMarkdown({ models: [{ ...ROW, name: 'int8|per-tensor' }], threads: 1 });
    const line = markdown.split('\n').find((l) => l.includes('per-tensor'))!;
    expect(line.startsWith('| int8\\|per-tensor | 1,000 |'), line).toBe(true);
    // An unescaped | would add a column, so the row must have as many separators as the header.
    const header = markdown.split('\n').find((l) => l.startsWith('| model'))!;
    expect(line.replaceAll('\\|', '').split('|').length).toBe(header.split('|').length);
  });
});

describe('ringtrain quantize --report', () => {
  it('EXPECTED FAILURE - a broken report stops the command before it writes', async () => {
    const MODEL: MlpConfig = { inputSize: 784, hidden: [8], classes: 10 };
    const dir = join(scratch, 'run');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.onnx'), mlpInferenceModel(MODEL, initParameters(mlpParameters(MODEL), 1)));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveRunConfig({ model: { hidden: [8] }, train: { steps: 1 } })));
    const report = reportFile('cli', 'null');
    const out = join(dir, 'int8.onnx');
    const run = startCli(['quantize', '--model', join(dir, 'model.onnx'), '--out', out, '--report', report]);
    const { code } = await run.exited;
    const output = run.lines.join('\n');
    expect(code, output).toBe(2);
    expect(output).toMatch(/--report .*report\.json is not a JSON object with a 'models' list/);
    expect(output).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  });
});
