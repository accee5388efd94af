import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { onnx } from '@ringtrain/proto';
import { initParameters, mlpInferenceModel, mlpParameters, mlpTrainingGraph, type FakeQuantSettings, type MlpConfig } from '@ringtrain/models';
import { quantizeDynamic } from './dynamic.js';
import { quantizeMatrix } from './quantize-math.js';
import { relativeError } from './testing/model-outputs.js';

const MLP: MlpConfig = { inputSize: 784, hidden: [64, 32], classes: 10 };
const BATCH = 16;
const SPECS = mlpParameters(MLP);
const PARAMS = initParameters(SPECS, 3);
const PIXELS = Float32Array.from({ length: BATCH * 784 }, (_, i) => ((i * 7919) % 256) / 255);
const LABELS = BigInt64Array.from({ length: BATCH }, (_, i) => BigInt(i % 10));

/** Adds the value `name` [batch, classes] of a float32 graph as an output, to read the logits of a training graph. */
function withLogitsOutput(bytes: Uint8Array, name: string): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const dims = [{ dimParam: 'batch' }, { dimValue: MLP.classes }];
  model.graph!.output.push(onnx.ValueInfoProto.fromPartial({ name, type: { tensorType: { elemType: onnx.TensorProto_DataType.FLOAT, shape: { dim: dims } } } }));
  return onnx.ModelProto.encode(model).finish();
}

/** Logits of the QAT training graph: its last Gemm, `fc2`. */
async function trainingLogits(quant: FakeQuantSettings): Promise<Float32Array> {
  const graph = mlpTrainingGraph(MLP, { quant });
  const session = await ort.InferenceSession.create(withLogitsOutput(graph.bytes, 'fc2'), { graphOptimizationLevel: 'all' });
  const feeds: Record<string, ort.Tensor> = {
    input: new ort.Tensor('float32', PIXELS, [BATCH, 784]),
    labels: new ort.Tensor('int64', LABELS, [BATCH]),
  };
  for (const spec of SPECS) feeds[spec.name] = new ort.Tensor('float32', PARAMS.slice(spec.offset, spec.offset + spec.size), spec.shape);
  const out = await session.run(feeds);
  await session.release();
  return out['fc2']!.data as Float32Array;
}

/** Logits of a model on `rows` samples at a time. */
async function modelLogits(bytes: Uint8Array, rows: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const logits = new Float32Array(BATCH * MLP.classes);
  for (let start = 0; start < BATCH; start += rows) {
    const input = new ort.Tensor('float32', PIXELS.slice(start * 784, (start + rows) * 784), [rows, 784]);
    logits.set((await session.run({ input }))['logits']!.data as Float32Array, start * MLP.classes);
  }
  await session.release();
  return logits;
}

describe('quantisation-aware MLP forward', () => {
  const float = mlpInferenceModel(MLP, PARAMS);
  const cases: { quant: FakeQuantSettings; rows: number }[] = [
    { quant: { weights: 'perChannel', activations: 'batch' }, rows: BATCH },
    { quant: { weights: 'perTensor', activations: 'batch' }, rows: BATCH },
    { quant: { weights: 'perChannel', activations: 'sample' }, rows: 1 },
    { quant: { weights: 'perTensor', activations: 'sample' }, rows: 1 },
  ];

  for (const { quant, rows } of cases) {
    it(`equals the dynamic int8 model, ${quant.weights} weights, ${quant.activations} ranges`, async () => {
      const int8 = quantizeDynamic(float, { perChannel: quant.weights === 'perChannel' }).bytes;
      const want = await modelLogits(int8, rows);
      const got = await trainingLogits(quant);
      // Both compute with the same int8 and uint8 values, and only the order of float32 sums
      // differs (3e-7 to 6e-7 measured on x64).
      expect(relativeError(got, want), 'against the int8 model').toBeLessThan(1e-5);
      // The float model is far away, so the comparison can tell the arithmetics apart.
      expect(relativeError(await modelLogits(float, BATCH), want), 'float against int8').toBeGreaterThan(1e-3);
    });
  }

  it('with float activations, equals the dequantised weights', async () => {
    // quantizeMatrix takes MatMul's B [in, out], the transpose of the stored [out, in].
    const dequantized = PARAMS.slice();
    for (const spec of SPECS.filter((s) => s.decay)) {
      const [out, inputs] = spec.shape as [number, number];
      const weight = PARAMS.subarray(spec.offset, spec.offset + spec.size);
      const b = Float32Array.from({ length: spec.size }, (_, k) => weight[(k % out) * inputs + Math.floor(k / out)]!);
      const q = quantizeMatrix(b, inputs, out, true);
      for (let o = 0; o < out; o++) {
        for (let i = 0; i < inputs; i++) dequantized[spec.offset + o * inputs + i] = q.values[i * out + o]! * q.scales[o]!;
      }
    }
    const want = await modelLogits(mlpInferenceModel(MLP, dequantized), BATCH);
    const got = await trainingLogits({ weights: 'perChannel', activations: 'none' });
    expect(relativeError(got, want)).toBeLessThan(1e-5);
  });

  it('with per-sample ranges, differs from whole-batch ranges', async () => {
    const perSample = await trainingLogits({ weights: 'perChannel', activations: 'sample' });
    const perBatch = await trainingLogits({ weights: 'perChannel', activations: 'batch' });
    expect(relativeError(perSample, perBatch)).toBeGreaterThan(1e-4);
  });
});
