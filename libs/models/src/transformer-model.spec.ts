import { describe, expect, it } from 'vitest';
import { parseModel, serializeModel } from '@ringtrain/graph';
import { blockMlp, setBlockMlp } from './block-mlp.js';
import { encoderInferenceModel, encoderParameters, type EncoderConfig } from './encoder.js';
import { gptInferenceModel, gptParameters, type GptConfig } from './gpt.js';
import { mlpInferenceModel, mlpParameters } from './mlp.js';
import { initParameters } from './parameters.js';
import { copyTensors, readTransformerModel, resizedModel, transformerInferenceModel, transformerTensor } from './transformer-model.js';

const GPT: GptConfig = { nLayer: 3, nHead: 2, nEmbd: 8, blockSize: 6, vocabSize: 7 };
const ENCODER: EncoderConfig = { nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 10, vocabSize: 12, classes: 3, padId: 0 };

describe('readTransformerModel', () => {
  it('gives back the config, tensors and metadata of a GPT', () => {
    const cases: GptConfig[] = [
      GPT,
      { ...GPT, nHead: 3, headSize: 2, mlpHidden: 5 },
      { ...GPT, tieEmbeddings: false, bias: false },
    ];
    for (const config of cases) {
      const params = initParameters(gptParameters(config), 2);
      const read = readTransformerModel(gptInferenceModel(config, params, { vocab: '["a"]' }));
      expect(read.kind).toBe('gpt');
      expect(read.config, JSON.stringify(config)).toEqual(config);
      expect(Array.from(read.params)).toEqual(Array.from(params));
      expect(read.metadata['vocab']).toBe('["a"]');
    }
  });

  it('gives back an encoder and writes the same file again', () => {
    const params = initParameters(encoderParameters(ENCODER), 3);
    const bytes = encoderInferenceModel(ENCODER, params, { tokenizer: '{}' });
    const read = readTransformerModel(bytes);
    expect(read.kind).toBe('encoder');
    expect(read.config).toEqual(ENCODER);
    expect(Buffer.from(transformerInferenceModel(read)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('reads nHead of older files from the graph', () => {
    const config = { ...GPT, nHead: 4 };
    const parsed = parseModel(gptInferenceModel(config, initParameters(gptParameters(config), 1)));
    const { nHead: _, ...older } = parsed.metadata;
    const read = readTransformerModel(serializeModel(parsed.graph, { metadata: older }));
    expect(read.config.nHead).toBe(4);
  });

  it('EXPECTED FAILURE - an MLP or a file without a model kind', () => {
    const mlp = { inputSize: 4, hidden: [3], classes: 2 };
    const bytes = mlpInferenceModel(mlp, initParameters(mlpParameters(mlp), 1));
    expect(() => readTransformerModel(bytes)).toThrow(/the model file has no modelKind in its metadata, so it is not a gpt or encoder that ringtrain exported/);
    const parsed = parseModel(gptInferenceModel(GPT, initParameters(gptParameters(GPT), 1)));
    const mislabelled = serializeModel(parsed.graph, { metadata: { ...parsed.metadata, modelKind: 'mlp' } });
    expect(() => readTransformerModel(mislabelled)).toThrow(/is a mlp model \(modelKind in its metadata\)/);
  });
});

describe('copyTensors', () => {
  it('renames through the source function and checks shapes', () => {
    const model = readTransformerModel(gptInferenceModel(GPT, initParameters(gptParameters(GPT), 4)));
    const two = resizedModel(model, { nLayer: 2 });
    copyTensors(model, two, { source: (name) => name.replace(/^h1\./, 'h2.') });
    expect(Array.from(transformerTensor(two, 'h1.mlp.c_fc.weight'))).toEqual(Array.from(transformerTensor(model, 'h2.mlp.c_fc.weight')));
    expect(Array.from(transformerTensor(two, 'wte'))).toEqual(Array.from(transformerTensor(model, 'wte')));
    const narrow = resizedModel(model, { mlpHidden: 5 });
    expect(() => copyTensors(model, narrow)).toThrow(/tensor 'h0.mlp.c_fc.weight' \[5, 8\] cannot be copied from 'h0.mlp.c_fc.weight', which is \[32, 8\]/);
  });
});

describe('blockMlp', () => {
  it('round-trips a block MLP, and without biases gives zero biases', () => {
    for (const bias of [true, false]) {
      const config = { ...GPT, bias };
      const model = readTransformerModel(gptInferenceModel(config, initParameters(gptParameters(config), 5)));
      const mlp = blockMlp(model, 1);
      expect(mlp.config.hidden).toEqual([32]);
      const fc0 = mlp.params.subarray(0, 32 * 8);
      expect(Array.from(fc0)).toEqual(Array.from(transformerTensor(model, 'h1.mlp.c_fc.weight')));
      if (!bias) expect(mlp.params.subarray(32 * 8, 32 * 8 + 32).every((v) => v === 0)).toBe(true);
      const copy = resizedModel(model, {});
      copyTensors(model, copy, { source: (name) => (name.startsWith('h1.mlp.') ? undefined : name) });
      setBlockMlp(copy, 1, mlp);
      expect(Array.from(copy.params)).toEqual(Array.from(model.params));
    }
  });
});
