import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readWeights } from '@ringtrain/graph';
import { defaultTextCorpusPath, loadTextCorpus } from '@ringtrain/data';
import { gptInferenceModel, gptParameters, initParameters, mlpInferenceModel, mlpParameters, type GptConfig, type MlpConfig } from '@ringtrain/models';
import { startCli, writeConfig } from './testing/cluster-harness.js';

const scratch = mkdtempSync(join(tmpdir(), 'ringtrain-init-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const MODEL: MlpConfig = { inputSize: 784, hidden: [32], classes: 10 };

// An lr of 1e-30 moves no float32 weight by an ulp, so the exported model shows what the workers loaded.
const RUN = {
  seed: 4,
  model: { kind: 'mlp', hidden: [32] },
  train: { batchSize: 64, steps: 2, logEvery: 1 },
  optim: { name: 'sgd', lr: 1e-30 },
  cluster: { threadsPerWorker: 1 },
};

async function launch(name: string, from: string) {
  const config = writeConfig(scratch, name, RUN);
  const run = startCli(['launch', '--config', config, '--workers', '2', '--runs-dir', join(scratch, name), '--set', `init.from=${from}`]);
  const { code } = await run.exited;
  const output = run.lines.join('\n');
  return { code, output, runDir: /^run directory (\S+)$/m.exec(output)?.[1] };
}

describe('init.from', () => {
  it('starts the run from the tensors of a saved model', async () => {
    const source = join(scratch, 'source.onnx');
    writeFileSync(source, mlpInferenceModel(MODEL, initParameters(mlpParameters(MODEL), 99)));
    const { code, output, runDir } = await launch('ok', source);
    expect(code, output).toBe(0);
    expect(output).toMatch(/parameters initialised from a model file/);
    const want = readWeights(readFileSync(source));
    const got = readWeights(readFileSync(join(runDir!, 'model.onnx')));
    for (const [name, weight] of want) expect(Array.from(got.get(name)!.data), name).toEqual(Array.from(weight.data));
  });

  it('EXPECTED FAILURE - a model of other sizes', async () => {
    const wide = join(scratch, 'wide.onnx');
    const other: MlpConfig = { ...MODEL, hidden: [48] };
    writeFileSync(wide, mlpInferenceModel(other, initParameters(mlpParameters(other), 1)));
    const { code, output } = await launch('wide', wide);
    expect(code).toBe(2);
    expect(output).not.toMatch(/starting 2 workers/);
    expect(output).toMatch(/init.from .*wide.onnx: tensor 'fc0.weight' of the model file is \[48, 784\].*student's 'fc0.weight' is \[32, 784\]/);
  });

  it('EXPECTED FAILURE - a model of another kind', async () => {
    const gpt: GptConfig = { nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8, vocabSize: 5 };
    const path = join(scratch, 'gpt.onnx');
    writeFileSync(path, gptInferenceModel(gpt, initParameters(gptParameters(gpt), 1)));
    const { code, output } = await launch('kind', path);
    expect(code).toBe(2);
    expect(output).toMatch(/init.from .*gpt.onnx is a gpt model but model.kind is mlp/);
  });

  it('EXPECTED FAILURE - a language model of another vocabulary', async () => {
    const text = join(scratch, 'text.txt');
    writeFileSync(text, readFileSync(defaultTextCorpusPath(), 'utf8').slice(0, 500));
    const vocab = loadTextCorpus({ path: text, blockSize: 8 }).vocab;
    const gpt: GptConfig = { nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8, vocabSize: vocab.length };
    const path = join(scratch, 'other-vocab.onnx');
    // The same characters in another order give the same shapes, but every embedding row would be wrong.
    writeFileSync(path, gptInferenceModel(gpt, initParameters(gptParameters(gpt), 1), { vocab: JSON.stringify([...vocab].reverse()) }));
    const config = writeConfig(scratch, 'gpt', {
      model: { kind: 'gpt', nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8 },
      data: { name: 'text', path: text },
      train: { batchSize: 4, steps: 1 },
      cluster: { threadsPerWorker: 1 },
    });
    const run = startCli(['launch', '--config', config, '--workers', '2', '--runs-dir', join(scratch, 'vocab'), '--set', `init.from=${path}`]);
    expect((await run.exited).code).toBe(2);
    expect(run.lines.join('\n')).toMatch(/was trained on another vocabulary than the run's text/);
  });
});
