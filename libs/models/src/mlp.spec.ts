import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { parseModel } from '@ringtrain/graph';
import { mlpInferenceModel, mlpParameters, mlpTrainingGraph, type MlpConfig } from './mlp.js';
import type { TrainingGraph } from './training-graph.js';
import { initParameters, parameterCount, type ParameterSpec } from './parameters.js';

const MNIST: MlpConfig = { inputSize: 784, hidden: [800, 800], classes: 10 };
const SMALL: MlpConfig = { inputSize: 6, hidden: [5, 4], classes: 3, dropout: { input: 0.2, hidden: 0.5 }, inputMean: 0.2, inputStd: 0.5 };
const BATCH = 4;

let state = 99;
function uniform(): number {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 4294967296;
}

interface Batch {
  x: number[];
  labels: number[];
  masks: Map<number, number[]>;
}

function makeBatch(cfg: MlpConfig, batch: number): Batch {
  const x = Array.from({ length: batch * cfg.inputSize }, uniform);
  const labels = Array.from({ length: batch }, () => Math.floor(uniform() * cfg.classes));
  const masks = new Map<number, number[]>();
  const widths = [cfg.inputSize, ...cfg.hidden];
  widths.forEach((width, layer) => {
    const p = layer === 0 ? cfg.dropout?.input : cfg.dropout?.hidden;
    if (!p) return;
    masks.set(layer, Array.from({ length: batch * width }, () => (uniform() < p ? 0 : 1 / (1 - p))));
  });
  return { x, labels, masks };
}

/** Plain JavaScript forward and backward of the summed cross-entropy, in float64. */
function reference(cfg: MlpConfig, params: ArrayLike<number>, specs: ParameterSpec[], b: Batch, batch: number) {
  const widths = [cfg.inputSize, ...cfg.hidden, cfg.classes];
  const layers = widths.length - 1;
  const inputs: number[][] = [];
  const pre: number[][] = [];
  // The input mask applies to the raw features, before normalisation.
  const inputMask = b.masks.get(0);
  const raw = inputMask ? b.x.map((v, i) => v * inputMask[i]!) : b.x;
  let h = raw.map((v) => (v - (cfg.inputMean ?? 0.1307)) / (cfg.inputStd ?? 0.3081));
  for (let k = 0; k < layers; k++) {
    const mask = k === 0 ? undefined : b.masks.get(k);
    if (mask) h = h.map((v, i) => v * mask[i]!);
    inputs.push(h);
    const [w, bias] = [specs[2 * k]!, specs[2 * k + 1]!];
    const [nIn, nOut] = [widths[k]!, widths[k + 1]!];
    const z = new Array<number>(batch * nOut).fill(0);
    for (let n = 0; n < batch; n++) {
      for (let o = 0; o < nOut; o++) {
        let s = params[bias.offset + o]!;
        for (let i = 0; i < nIn; i++) s += h[n * nIn + i]! * params[w.offset + o * nIn + i]!;
        z[n * nOut + o] = s;
      }
    }
    pre.push(z);
    h = k < layers - 1 ? z.map((v) => Math.max(v, 0)) : z;
  }
  const logits = h;
  const classes = cfg.classes;
  let lossSum = 0;
  let correct = 0;
  let dz = new Array<number>(batch * classes).fill(0);
  for (let n = 0; n < batch; n++) {
    const row = logits.slice(n * classes, (n + 1) * classes);
    const max = Math.max(...row);
    const sumExp = row.reduce((s, v) => s + Math.exp(v - max), 0);
    lossSum += Math.log(sumExp) + max - row[b.labels[n]!]!;
    if (row.indexOf(max) === b.labels[n]) correct++;
    row.forEach((v, c) => (dz[n * classes + c] = Math.exp(v - max) / sumExp - (c === b.labels[n] ? 1 : 0)));
  }
  const grads = specs.map((s) => new Array<number>(s.size).fill(0));
  for (let k = layers - 1; k >= 0; k--) {
    const [nIn, nOut] = [widths[k]!, widths[k + 1]!];
    const w = specs[2 * k]!;
    const hIn = inputs[k]!;
    const dh = new Array<number>(batch * nIn).fill(0);
    for (let n = 0; n < batch; n++) {
      for (let o = 0; o < nOut; o++) {
        const d = dz[n * nOut + o]!;
        grads[2 * k + 1]![o]! += d;
        for (let i = 0; i < nIn; i++) {
          grads[2 * k]![o * nIn + i]! += d * hIn[n * nIn + i]!;
          dh[n * nIn + i]! += d * params[w.offset + o * nIn + i]!;
        }
      }
    }
    if (k === 0) break;
    const mask = b.masks.get(k);
    dz = dh.map((v, i) => {
      if (pre[k - 1]![i]! <= 0) return 0;
      return mask === undefined ? v : v * mask[i]!;
    });
  }
  return { logits, lossSum, correct, grads };
}

function feedsFor(t: TrainingGraph, params: Float32Array | Float64Array, b: Batch, batch: number): Record<string, ort.Tensor> {
  const dtype = params instanceof Float64Array ? 'float64' : 'float32';
  const Arr = params instanceof Float64Array ? Float64Array : Float32Array;
  const feeds: Record<string, ort.Tensor> = {};
  for (const spec of t.parameters) {
    feeds[spec.name] = new ort.Tensor(dtype, params.subarray(spec.offset, spec.offset + spec.size), spec.shape);
  }
  feeds['input'] = new ort.Tensor(dtype, Arr.from(b.x), [batch, t.dataInputs[0]!.shape[1] as number]);
  feeds['labels'] = new ort.Tensor('int64', BigInt64Array.from(b.labels.map(BigInt)), [batch]);
  for (const m of t.maskInputs) feeds[m.name] = new ort.Tensor(dtype, Arr.from(b.masks.get(m.layer)!), [batch, m.width]);
  return feeds;
}

describe('mlpParameters', () => {
  it('should lay out 784-800-800-10 in PyTorch order', () => {
    const specs = mlpParameters(MNIST);
    expect(specs.map((s) => [s.name, s.shape, s.offset, s.decay])).toEqual([
      ['fc0.weight', [800, 784], 0, true],
      ['fc0.bias', [800], 627200, false],
      ['fc1.weight', [800, 800], 628000, true],
      ['fc1.bias', [800], 1268000, false],
      ['fc2.weight', [10, 800], 1268800, true],
      ['fc2.bias', [10], 1276800, false],
    ]);
    expect(parameterCount(specs)).toBe(1276810);
    expect(specs[1]!.init).toEqual({ kind: 'uniform', bound: 1 / 28 });
  });

  it('BAD CALL - hidden width 0 and dropout 1', () => {
    expect(() => mlpParameters({ ...MNIST, hidden: [0] })).toThrow(/hidden\[0\] must be a positive integer, got 0/);
    expect(() => mlpParameters({ ...MNIST, dropout: { input: 1 } })).toThrow(/dropout.input must be in \[0, 1\)/);
  });
});

describe('initParameters', () => {
  const specs = mlpParameters(MNIST);
  const params = initParameters(specs, 42);

  it('should draw each tensor from U(-1/sqrt(fanIn), 1/sqrt(fanIn))', () => {
    for (const spec of specs) {
      const fanIn = spec.name.startsWith('fc0') ? 784 : 800;
      const bound = 1 / Math.sqrt(fanIn);
      const view = params.subarray(spec.offset, spec.offset + spec.size);
      let [min, max, sum] = [Infinity, -Infinity, 0];
      for (const v of view) {
        min = Math.min(min, v);
        max = Math.max(max, v);
        sum += v;
      }
      expect(min).toBeGreaterThanOrEqual(-bound);
      expect(max).toBeLessThan(bound);
      if (spec.size > 1000) {
        expect(max).toBeGreaterThan(0.99 * bound);
        expect(Math.abs(sum / spec.size)).toBeLessThan(0.01 * bound);
      }
    }
  });

  it('should be a pure function of the seed', () => {
    const again = initParameters(specs, 42);
    expect(Buffer.from(again.buffer).equals(Buffer.from(params.buffer))).toBe(true);
    expect(initParameters(specs, 43)[0]).not.toBe(params[0]);
  });
});

describe('mlpTrainingGraph', () => {
  it('should expose the input and output contract to onnxruntime', async () => {
    const t = mlpTrainingGraph({ ...MNIST, dropout: { input: 0.2, hidden: 0.5 } });
    const session = await ort.InferenceSession.create(t.bytes);
    expect(session.inputNames).toEqual([...t.parameters.map((p) => p.name), 'input', 'labels', 'mask0', 'mask1', 'mask2']);
    expect(session.outputNames).toEqual(['loss_sum', 'correct', ...t.parameters.map((p) => `grad.${p.name}`)]);
    expect(t.maskInputs).toEqual([
      { name: 'mask0', layer: 0, width: 784, keepProb: 0.8 },
      { name: 'mask1', layer: 1, width: 800, keepProb: 0.5 },
      { name: 'mask2', layer: 2, width: 800, keepProb: 0.5 },
    ]);
    expect(t.dataInputs).toEqual([
      { name: 'input', dtype: 'float32', shape: ['batch', 784] },
      { name: 'labels', dtype: 'int64', shape: ['batch'] },
    ]);
    await session.release();
  });

  it('should match a JavaScript reference', async () => {
    const t = mlpTrainingGraph(SMALL);
    const params = initParameters(t.parameters, 7);
    const batch = makeBatch(SMALL, BATCH);
    const session = await ort.InferenceSession.create(t.bytes);
    const out = await session.run(feedsFor(t, params, batch, BATCH));
    await session.release();
    const ref = reference(SMALL, params, t.parameters, batch, BATCH);
    expect(Number(out['loss_sum']!.data[0])).toBeCloseTo(ref.lossSum, 5);
    expect(out['correct']!.type).toBe('int64');
    expect(Number(out['correct']!.data[0])).toBe(ref.correct);
    t.outputs.gradients.forEach((name, i) => {
      const got = out[name]!.data as Float32Array;
      ref.grads[i]!.forEach((v, j) => expect(got[j], `${name}[${j}]`).toBeCloseTo(v, 5));
    });
  });

  it('should match finite differences of the summed loss in float64 (tolerance 1e-6)', async () => {
    const t = mlpTrainingGraph(SMALL, { dtype: 'float64' });
    const params = Float64Array.from(initParameters(t.parameters, 3));
    const batch = makeBatch(SMALL, BATCH);
    const feeds = feedsFor(t, params, batch, BATCH);
    const session = await ort.InferenceSession.create(t.bytes);
    const out = await session.run(feeds);
    const analytic = t.parameters.map((_, i) => out[t.outputs.gradients[i]!]!.data as Float64Array);
    const eps = 1e-6;
    let maxError = 0;
    for (const [i, spec] of t.parameters.entries()) {
      for (let j = 0; j < spec.size; j++) {
        const k = spec.offset + j;
        const x = params[k]!;
        params[k] = x + eps;
        const plus = Number((await session.run(feeds))['loss_sum']!.data[0]);
        params[k] = x - eps;
        const minus = Number((await session.run(feeds))['loss_sum']!.data[0]);
        params[k] = x;
        const numeric = (plus - minus) / (2 * eps);
        const a = analytic[i]![j]!;
        maxError = Math.max(maxError, Math.abs(a - numeric) / Math.max(Math.abs(a), Math.abs(numeric), 1));
      }
    }
    await session.release();
    expect(maxError).toBeLessThan(1e-6);
  });

  it('should give the flat layout the per-parameter gradients in flat-buffer order', async () => {
    const perParameter = mlpTrainingGraph(SMALL);
    const flat = mlpTrainingGraph(SMALL, { gradientLayout: 'flat' });
    expect(flat.outputs.gradients).toEqual(['gradients']);
    const params = initParameters(flat.parameters, 5);
    const batch = makeBatch(SMALL, BATCH);
    const [a, b] = await Promise.all([perParameter, flat].map(async (t) => {
      const session = await ort.InferenceSession.create(t.bytes);
      const out = await session.run(feedsFor(t, params, batch, BATCH));
      await session.release();
      return t.outputs.gradients.flatMap((name) => Array.from(out[name]!.data as Float32Array));
    }));
    expect(b!.length).toBe(parameterCount(flat.parameters));
    expect(b).toEqual(a);
  });
});

describe('mlpInferenceModel', () => {
  it('should load with one input and one output and match the training forward', async () => {
    const cfg: MlpConfig = { inputSize: 6, hidden: [5, 4], classes: 3 };
    const t = mlpTrainingGraph(cfg);
    const params = initParameters(t.parameters, 11);
    const bytes = mlpInferenceModel(cfg, params, { source: 'test' });
    const parsed = parseModel(bytes);
    expect(parsed.opset).toBe(17);
    expect(parsed.metadata).toEqual({ source: 'test' });
    expect(parsed.graph.inputs.map((v) => [v.name, v.dtype, v.shape])).toEqual([['input', 'float32', ['batch', 6]]]);
    expect(parsed.graph.outputs.map((v) => [v.name, v.dtype, v.shape])).toEqual([['logits', 'float32', ['batch', 3]]]);

    const batch = makeBatch(cfg, BATCH);
    const session = await ort.InferenceSession.create(bytes);
    const logits = (await session.run({ input: new ort.Tensor('float32', Float32Array.from(batch.x), [BATCH, 6]) }))['logits']!;
    await session.release();
    expect(logits.dims).toEqual([BATCH, 3]);
    const ref = reference(cfg, params, t.parameters, batch, BATCH);
    Array.from(logits.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(ref.logits[i]!, 5));

    // The training graph's loss and accuracy from the same parameters.
    const training = await ort.InferenceSession.create(t.bytes);
    const out = await training.run(feedsFor(t, params, batch, BATCH));
    await training.release();
    const data = logits.data as Float32Array;
    let lossSum = 0;
    let correct = 0;
    for (let n = 0; n < BATCH; n++) {
      const row = Array.from(data.subarray(n * 3, n * 3 + 3));
      const max = Math.max(...row);
      lossSum += Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max - row[batch.labels[n]!]!;
      if (row.indexOf(max) === batch.labels[n]) correct++;
    }
    expect(Number(out['loss_sum']!.data[0])).toBeCloseTo(lossSum, 5);
    expect(Number(out['correct']!.data[0])).toBe(correct);
  });

  it('BAD CALL - parameter buffer of the wrong length', () => {
    expect(() => mlpInferenceModel(MNIST, new Float32Array(10))).toThrow(/has 1276810 parameters, got a buffer of 10/);
  });
});
