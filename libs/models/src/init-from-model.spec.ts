import { describe, expect, it } from 'vitest';
import { encoderInferenceModel, encoderParameters, type EncoderConfig } from './encoder.js';
import { gptInferenceModel, gptParameters, type GptConfig } from './gpt.js';
import { initFromModel, InitFromModelError } from './init-from-model.js';
import { mlpInferenceModel, mlpParameters, type MlpConfig } from './mlp.js';
import { initParameters, parameterCount, type ParameterSpec } from './parameters.js';

const GPT4: GptConfig = { nLayer: 4, nHead: 2, nEmbd: 8, blockSize: 16, vocabSize: 7 };

/** Random parameters, so that no tensor is zeros or ones and a misplaced copy shows. */
function randomParams(specs: readonly ParameterSpec[], seed: number): Float32Array {
  const out = new Float32Array(parameterCount(specs));
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

function tensorOf(specs: readonly ParameterSpec[], params: Float32Array, name: string): Float32Array {
  const spec = specs.find((s) => s.name === name);
  if (spec === undefined) throw new Error(`no tensor ${name}`);
  return params.subarray(spec.offset, spec.offset + spec.size);
}

describe('initFromModel', () => {
  it('exact parameters of the same config', () => {
    const cases: [string, ParameterSpec[], (p: Float32Array) => Uint8Array][] = [];
    const mlp: MlpConfig = { inputSize: 6, hidden: [5, 4], classes: 3 };
    cases.push(['mlp', mlpParameters(mlp), (p) => mlpInferenceModel(mlp, p)]);
    cases.push(['gpt', gptParameters(GPT4), (p) => gptInferenceModel(GPT4, p)]);
    const untied: GptConfig = { ...GPT4, tieEmbeddings: false, bias: false };
    cases.push(['gpt untied', gptParameters(untied), (p) => gptInferenceModel(untied, p)]);
    const enc: EncoderConfig = { nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 10, vocabSize: 12, classes: 2, padId: 0 };
    cases.push(['encoder', encoderParameters(enc), (p) => encoderInferenceModel(enc, p)]);
    for (const [what, specs, build] of cases) {
      const source = randomParams(specs, 7);
      const params = initParameters(specs, 1);
      initFromModel(specs, params, build(source));
      expect(Array.from(params), what).toEqual(Array.from(source));
    }
  });

  it('every other block of a deeper GPT', () => {
    const teacherSpecs = gptParameters(GPT4);
    const teacher = randomParams(teacherSpecs, 3);
    const student: GptConfig = { ...GPT4, nLayer: 2, blockSize: 8 };
    const specs = gptParameters(student);
    const params = initParameters(specs, 0);
    const result = initFromModel(specs, params, gptInferenceModel(GPT4, teacher));
    expect(result.blocks).toEqual([0, 2]);
    for (const spec of specs) {
      const from = spec.name.replace(/^h1\./, 'h2.');
      const want = tensorOf(teacherSpecs, teacher, from);
      // The student's shorter context takes the first rows of the position table.
      const expected = spec.name === 'wpe' ? want.subarray(0, spec.size) : want;
      expect(Array.from(tensorOf(specs, params, spec.name)), spec.name).toEqual(Array.from(expected));
    }
    expect(result.copied.find((c) => c.name === 'h1.attn.c_attn.weight')?.from).toBe('h2.attn.c_attn.weight');
  });

  it('explicit block list', () => {
    const teacherSpecs = gptParameters(GPT4);
    const teacher = randomParams(teacherSpecs, 5);
    const specs = gptParameters({ ...GPT4, nLayer: 2 });
    const params = new Float32Array(parameterCount(specs));
    initFromModel(specs, params, gptInferenceModel(GPT4, teacher), { blocks: [3, 1] });
    const name = 'h0.mlp.c_fc.weight';
    expect(Array.from(tensorOf(specs, params, name))).toEqual(Array.from(tensorOf(teacherSpecs, teacher, 'h3.mlp.c_fc.weight')));
  });

  it('EXPECTED FAILURE - a depth that is no multiple of the student\'s asks for init.blocks', () => {
    const bytes = gptInferenceModel({ ...GPT4, nLayer: 3 }, randomParams(gptParameters({ ...GPT4, nLayer: 3 }), 1));
    const specs = gptParameters({ ...GPT4, nLayer: 2 });
    expect(() => initFromModel(specs, new Float32Array(parameterCount(specs)), bytes)).toThrow(
      /model file has 3 blocks and the student 2.*Set init.blocks/,
    );
  });

  it('EXPECTED FAILURE - a bad block list', () => {
    const bytes = gptInferenceModel(GPT4, randomParams(gptParameters(GPT4), 1));
    const specs = gptParameters({ ...GPT4, nLayer: 2 });
    const params = new Float32Array(parameterCount(specs));
    expect(() => initFromModel(specs, params, bytes, { blocks: [0] })).toThrow(/lists 1 source blocks, but the student has 2/);
    expect(() => initFromModel(specs, params, bytes, { blocks: [0, 4] })).toThrow(/names block 4.*blocks 0 to 3/);
  });

  it('EXPECTED FAILURE - a wider model', () => {
    const big: MlpConfig = { inputSize: 6, hidden: [9], classes: 3 };
    const small: MlpConfig = { inputSize: 6, hidden: [4], classes: 3 };
    const specs = mlpParameters(small);
    const params = initParameters(specs, 2);
    const before = params.slice();
    const bytes = mlpInferenceModel(big, randomParams(mlpParameters(big), 1));
    expect(() => initFromModel(specs, params, bytes)).toThrow(InitFromModelError);
    expect(() => initFromModel(specs, params, bytes)).toThrow(/'fc0.weight' of the model file is \[9, 6\].*student's 'fc0.weight' is \[4, 6\]/);
    expect(Array.from(params)).toEqual(Array.from(before));
  });

  it('EXPECTED FAILURE - a model of another family', () => {
    const specs = mlpParameters({ inputSize: 6, hidden: [4], classes: 3 });
    const bytes = gptInferenceModel(GPT4, randomParams(gptParameters(GPT4), 1));
    expect(() => initFromModel(specs, new Float32Array(parameterCount(specs)), bytes)).toThrow(
      /no tensor 'fc0.weight'.*Its float tensors include: wte/,
    );
  });

  it('untied head from a tied embedding', () => {
    const tiedSpecs = gptParameters(GPT4);
    const tied = randomParams(tiedSpecs, 6);
    const untied = gptParameters({ ...GPT4, tieEmbeddings: false });
    const params = new Float32Array(parameterCount(untied));
    initFromModel(untied, params, gptInferenceModel(GPT4, tied));
    expect(Array.from(tensorOf(untied, params, 'lm_head.weight'))).toEqual(Array.from(tensorOf(tiedSpecs, tied, 'wte')));
  });

  it('EXPECTED FAILURE - a model without blocks', () => {
    const specs = gptParameters({ ...GPT4, nLayer: 2 });
    const mlp: MlpConfig = { inputSize: 6, hidden: [4], classes: 3 };
    const bytes = mlpInferenceModel(mlp, randomParams(mlpParameters(mlp), 1));
    expect(() => initFromModel(specs, new Float32Array(parameterCount(specs)), bytes)).toThrow(
      /no transformer blocks named h0\.\*.*Its float tensors include: .*fc0.weight/,
    );
  });

  it('EXPECTED FAILURE - bytes that are no model', () => {
    const specs = mlpParameters({ inputSize: 2, hidden: [], classes: 2 });
    expect(() => initFromModel(specs, new Float32Array(6), Uint8Array.from([1, 2, 3]))).toThrow(/not an ONNX model/);
  });
});
