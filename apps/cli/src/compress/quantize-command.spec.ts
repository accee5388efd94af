import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { initParameters, mlpInferenceModel, mlpParameters, type MlpConfig } from '@ringtrain/models';
import { startCli } from '../testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-quantize-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const MODEL: MlpConfig = { inputSize: 784, hidden: [256], classes: 10 };

/** A run directory as a launch leaves it: model.onnx, config.json and summary.json. */
function runDirectory(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'model.onnx'), mlpInferenceModel(MODEL, initParameters(mlpParameters(MODEL), 5)));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(resolveRunConfig({ model: { hidden: [256] }, train: { steps: 1 } })));
  writeFileSync(join(dir, 'summary.json'), JSON.stringify({ parameters: 784 * 256 + 256 + 256 * 10 + 10 }));
  return dir;
}

async function quantize(args: string[]) {
  const run = startCli(['quantize', ...args]);
  const { code } = await run.exited;
  return { code, output: run.lines.join('\n') };
}

describe('ringtrain quantize', () => {
  it('writes a working int8 model and adds its row to a report', async () => {
    const dir = runDirectory('run');
    const out = join(dir, 'int8.onnx');
    const report = join(dir, 'report.json');
    const { code, output } = await quantize(['--model', join(dir, 'model.onnx'), '--out', out, '--report', report, '--name', 'student-int8']);
    expect(code, output).toBe(0);
    expect(output).toMatch(/quantised 2 nodes to int8 \(per channel\): fc0, fc1/);
    expect(output).toMatch(/float32: \d+ test errors/);
    expect(statSync(out).size / statSync(join(dir, 'model.onnx')).size).toBeLessThan(0.27);
    const session = await ort.InferenceSession.create(readFileSync(out));
    const logits = (await session.run({ input: new ort.Tensor('float32', new Float32Array(2 * 784).fill(0.5), [2, 784]) }))['logits']!;
    expect(logits.dims).toEqual([2, 10]);
    const rows = (JSON.parse(readFileSync(report, 'utf8')) as { models: Record<string, unknown>[] }).models;
    expect(rows.map((r) => r['name'])).toEqual(['student-int8']);
    expect(rows[0]).toMatchObject({ parameters: 203_530, modelBytes: statSync(out).size });
    for (const key of ['testAccuracy', 'testErrors', 'latencyMsBatch1', 'samplesPerSecBatch256']) expect(rows[0]).toHaveProperty(key);
    expect(existsSync(join(dir, 'report.md'))).toBe(true);
  });

  it('EXPECTED FAILURE - both weight scale flags', async () => {
    const dir = runDirectory('flags');
    const { code, output } = await quantize(['--model', join(dir, 'model.onnx'), '--out', join(dir, 'q.onnx'), '--per-tensor', '--per-channel']);
    expect(code).toBe(2);
    expect(output).toMatch(/--per-tensor and --per-channel exclude each other/);
  });

  it('EXPECTED FAILURE - a report without a run config', async () => {
    const path = join(scratch, 'bare.onnx');
    writeFileSync(path, mlpInferenceModel(MODEL, initParameters(mlpParameters(MODEL), 1)));
    const { code, output } = await quantize(['--model', path, '--out', join(scratch, 'bare-int8.onnx'), '--report', join(scratch, 'r.json')]);
    expect(code).toBe(2);
    expect(output).toMatch(/--report needs the run config .* pass --config FILE/);
  });

  it('EXPECTED FAILURE - an unknown node, mode or file', async () => {
    const dir = runDirectory('bad');
    const model = join(dir, 'model.onnx');
    const out = join(dir, 'q.onnx');
    const node = await quantize(['--model', model, '--out', out, '--include', 'fc7']);
    expect(node.code).toBe(2);
    expect(node.output).toMatch(/no node named 'fc7'/);
    const mode = await quantize(['--model', model, '--out', out, '--mode', 'float8']);
    expect(mode.code).toBe(2);
    expect(mode.output).toMatch(/--mode float8 is not supported/);
    writeFileSync(join(dir, 'text.onnx'), 'not a model');
    const file = await quantize(['--model', join(dir, 'text.onnx'), '--out', out]);
    expect(file.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});
